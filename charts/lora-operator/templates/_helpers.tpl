{{/*
Names and labels shared by every template.
*/}}

{{/* Chart name, possibly overridden. */}}
{{- define "lora-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name, plus the chart name unless already in it. */}}
{{- define "lora-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "lora-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "lora-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: lora-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator pods; never change them (Deployment selectors are immutable). */}}
{{- define "lora-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lora-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "lora-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lora-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image reference. */}}
{{- define "lora-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/*
"true" when leader election is on: leaderElection.enabled true, or "auto" with replicas > 1.
More than one replica without leader election is refused: two operators would both reconcile.
*/}}
{{- define "lora-operator.leaderElection" -}}
{{- $mode := .Values.leaderElection.enabled | toString | lower }}
{{- if not (has $mode (list "auto" "true" "false")) }}
{{- fail (printf "leaderElection.enabled must be auto, true or false, not %q" $mode) }}
{{- end }}
{{- $replicas := int .Values.replicas }}
{{- if and (eq $mode "false") (gt $replicas 1) }}
{{- fail "replicas > 1 needs leader election: set leaderElection.enabled to auto or true" }}
{{- end }}
{{- if or (eq $mode "true") (and (eq $mode "auto") (gt $replicas 1)) }}true{{ else }}false{{ end }}
{{- end }}

{{/* Name of the leader election Lease (in the release namespace). */}}
{{- define "lora-operator.leaseName" -}}
{{- default (printf "%s-leader" (include "lora-operator.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Watched namespaces as the operator reads them: comma-separated, or every namespace. */}}
{{- define "lora-operator.watchedNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- join "," .Values.watchNamespaces }}
{{- else }}
{{- "JOSDK_ALL_NAMESPACES" }}
{{- end }}
{{- end }}

{{/*
The operator's permissions: exactly the rules its reconcilers declare with @RBACRule plus the
rules the operator SDK adds for each primary resource (the ClusterRoles in the generated
operator/target/kubernetes/kubernetes.yml). HelmChartIT fails when these and the generated rules
differ, so keep them in step with operator/src/main/java/io/loraops/operator/reconciler/.
Every resource is namespaced, so the same rules serve a ClusterRole and a per-namespace Role.
*/}}
{{- define "lora-operator.rules" -}}
# Primary resources: watched, status patched; finalizers/update lets owner references block
# deletion of their owner.
- apiGroups: ["loraops.io"]
  resources: ["lorajobs", "lorajobs/status", "lorajobs/finalizers"]
  verbs: ["get", "list", "watch", "patch", "update", "create", "delete"]
- apiGroups: ["loraops.io"]
  resources: ["loraadapters", "loraadapters/status", "loraadapters/finalizers"]
  verbs: ["get", "list", "watch", "patch", "update", "create", "delete"]
# One batch Job per trial: created once, suspended/resumed and annotated with its result by patch.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Kueue: spec.suspend on a queued LoraJob deactivates its trial Jobs' Workloads (spec.active).
- apiGroups: ["kueue.x-k8s.io"]
  resources: ["workloads"]
  verbs: ["list", "patch"]
# Pods are only observed: trial pods (termination messages carry the trial's metrics) and the
# serving targets' pods (their IPs, to reach the inference servers).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Running trials' progress lines, read through the API server (docs/progress.md); trial pods
# themselves get no API access.
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# Serving targets: watched for pods coming and going; the restart loader patches the pod template.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "patch", "update"]
# Trial and publish configs (created once, never changed) and version records (created as a
# claim, patched once to published and immutable).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
# The inference servers' API key (spec.serving.apiKeySecretRef): one named Secret read per
# reconcile; no list or watch, so Secrets are never cached.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Events on each condition transition.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}
