#!/usr/bin/env bash
# Kueue's controller manager (built by `hack/install-tools.sh kueue`) run as a process next to the
# local control plane (hack/control-plane.sh), the way the tests that exercise Kueue need it.
#
# Usage:
#   hack/kueue.sh up <dir> <kubeconfig>   start (no-op if already running); waits until ready
#   hack/kueue.sh down <dir>              stop the process this script started in <dir>
#
# Outside a cluster Kueue cannot be reached through its webhook Service. 'up' therefore installs
# Kueue's CRDs and its webhook configurations (from the same module version) itself, with every
# webhook and CRD conversion pointed at https://127.0.0.1:<port>, and pre-creates the Secret that
# Kueue's internal cert manager keeps: a CA and a serving certificate valid both for 127.0.0.1 and
# for the in-cluster Service name that the cert manager checks (it would replace any other), also
# written to the directory it would mount them in. Only the batch/job integration is on; the
# visibility API server is off. Ports are written to <dir>/ports.env.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUEUE_HOME="${LORA_KUEUE_HOME:-${ROOT}/.tools/kueue}"
TIMEOUT="${LORA_KUEUE_TIMEOUT:-60}"

die() { echo "kueue: $*" >&2; exit 1; }

[[ $# -ge 2 ]] || die "usage: $0 up <dir> <kubeconfig> | down <dir>"
VERB="$1"
DIR="$(mkdir -p "$2" && cd "$2" && pwd)"
PIDFILE="${DIR}/kueue.pid"
NAMESPACE=kueue-system
SERVICE_DNS="kueue-webhook-service.${NAMESPACE}.svc"
KUBECONFIG_FILE="${3:-}"
kc() { "${ROOT}/.tools/bin/kubectl" --kubeconfig="${KUBECONFIG_FILE}" "$@"; }

# The pid in the pid file, if that process is alive and is the kueue this script started with
# this <dir> (its command line names the config under <dir>), so a recycled pid is never touched.
running_pid() {
  [[ -f "${PIDFILE}" ]] || return 1
  local pid cmdline
  pid="$(<"${PIDFILE}")"
  [[ "${pid}" =~ ^[0-9]+$ && -r "/proc/${pid}/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null)" || return 1
  [[ "${cmdline}" == *"${DIR}/config.yaml"* ]] || return 1
  echo "${pid}"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Certificates as Kueue's cert manager (open-policy-agent/cert-controller) accepts them: a CA named
# kueue-ca, and a server certificate for the Service name it checks; both valid longer than its
# 90-day rotation look-ahead. 127.0.0.1 is added for the API server, which calls us there.
certs() {
  local d="${DIR}/certs"
  [[ -f "${d}/tls.crt" ]] && return 0
  mkdir -p "${d}"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/O=kueue/CN=kueue-ca" \
    -addext "subjectAltName=DNS:kueue-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,digitalSignature,keyEncipherment" \
    -keyout "${d}/ca.key" -out "${d}/ca.crt" 2>/dev/null
  # The cert manager parses the CA key as PKCS#1 only.
  openssl rsa -in "${d}/ca.key" -traditional -out "${d}/ca.key" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/O=kueue/CN=${SERVICE_DNS}" \
    -keyout "${d}/tls.key" -out "${d}/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "${SERVICE_DNS}" >"${d}/ext.cnf"
  openssl x509 -req -in "${d}/tls.csr" -CA "${d}/ca.crt" -CAkey "${d}/ca.key" \
    -CAcreateserial -days 365 -extfile "${d}/ext.cnf" -out "${d}/tls.crt" 2>/dev/null
}

# Kueue's CRDs, its cert Secret and its webhook configurations, pointed at 127.0.0.1:$1.
install_manifests() {
  local port="$1" ca
  ca="$(base64 -w0 <"${DIR}/certs/ca.crt")"
  kc apply --server-side --force-conflicts -f "${KUEUE_HOME}/config/crd/" >/dev/null
  kc create namespace "${NAMESPACE}" --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc -n "${NAMESPACE}" create secret generic kueue-webhook-server-cert \
    --from-file="${DIR}/certs/ca.crt" --from-file="${DIR}/certs/ca.key" \
    --from-file="${DIR}/certs/tls.crt" --from-file="${DIR}/certs/tls.key" \
    --dry-run=client -o yaml | kc apply -f - >/dev/null
  # kubectl turns the YAML into JSON without a server; python3 rewrites it.
  kc create --dry-run=client -o json -f "${KUEUE_HOME}/config/webhook/manifests.yaml" |
    python3 -c '
import json, sys
port, ca = sys.argv[1], sys.argv[2]
text, docs, at = sys.stdin.read(), [], 0
while text[at:].strip():  # one JSON object per YAML document
    doc, at = json.JSONDecoder().raw_decode(text, len(text) - len(text[at:].lstrip()))
    docs.append(doc)
for config in docs:
    # kustomize names them kueue-*; the cert manager looks for those names.
    config["metadata"]["name"] = "kueue-" + config["metadata"]["name"]
    kept = []
    for hook in config["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        # Only Jobs and Kueue'"'"'s own objects: the other integrations are off, and a webhook
        # for pods or deployments would fail every such request.
        if "batch-v1-job" in path or "kueue-x-k8s-io" in path:
            hook["clientConfig"] = {"url": "https://127.0.0.1:%s%s" % (port, path), "caBundle": ca}
            kept.append(hook)
    config["webhooks"] = kept
json.dump({"apiVersion": "v1", "kind": "List", "items": docs}, sys.stdout)
' "${port}" "${ca}" | kc apply -f - >/dev/null
  local crd
  for crd in localqueues clusterqueues workloads cohorts multikueueclusters; do
    kc patch crd "${crd}.kueue.x-k8s.io" --type=merge -p '{"spec":{"conversion":{"strategy":"Webhook","webhook":{"conversionReviewVersions":["v1"],"clientConfig":{"url":"https://127.0.0.1:'"${port}"'/convert","caBundle":"'"${ca}"'"}}}}}' >/dev/null
  done
}

up() {
  local kubeconfig="$1"
  [[ -x "${KUEUE_HOME}/kueue" ]] || die "no ${KUEUE_HOME}/kueue: run 'hack/install-tools.sh kueue'"
  if running_pid >/dev/null; then return 0; fi
  certs
  local webhook health
  webhook="$(free_port)"
  health="$(free_port)"
  printf 'KUEUE_WEBHOOK_PORT=%s\nKUEUE_HEALTH_PORT=%s\n' "${webhook}" "${health}" >"${DIR}/ports.env"
  install_manifests "${webhook}"
  cat >"${DIR}/config.yaml" <<EOF
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: ${NAMESPACE}
health: {healthProbeBindAddress: "127.0.0.1:${health}"}
metrics: {bindAddress: "0"}
webhook: {host: 127.0.0.1, port: ${webhook}, certDir: "${DIR}/certs"}
leaderElection: {leaderElect: false}
internalCertManagement: {enable: true}
integrations: {frameworks: ["batch/job"]}
featureGates: {VisibilityOnDemand: false}
EOF
  # setsid: the process outlives the calling shell; only 'down' stops it.
  setsid "${KUEUE_HOME}/kueue" --config="${DIR}/config.yaml" --kubeconfig="${kubeconfig}" \
    </dev/null >>"${DIR}/kueue.log" 2>&1 &
  echo "$!" >"${PIDFILE}"
  local deadline=$((SECONDS + TIMEOUT))
  until curl -fsS "http://127.0.0.1:${health}/readyz" >/dev/null 2>&1; do
    if ! running_pid >/dev/null; then
      tail -n 20 "${DIR}/kueue.log" >&2
      die "kueue exited during start (log: ${DIR}/kueue.log)"
    fi
    ((SECONDS < deadline)) || { tail -n 20 "${DIR}/kueue.log" >&2; down; die "kueue not ready in ${TIMEOUT}s"; }
    sleep 0.5
  done
  echo "kueue: ready (webhook https://127.0.0.1:${webhook}, log ${DIR}/kueue.log)"
}

down() {
  local pid
  pid="$(running_pid)" || return 0
  kill "${pid}"
  for _ in $(seq 1 20); do
    kill -0 "${pid}" 2>/dev/null || { rm -f "${PIDFILE}"; return 0; }
    sleep 0.5
  done
  kill -9 "${pid}" 2>/dev/null || true
  rm -f "${PIDFILE}"
}

case "${VERB}" in
  up) [[ $# -eq 3 ]] || die "usage: $0 up <dir> <kubeconfig>"; up "$3" ;;
  down) down ;;
  *) die "usage: $0 up <dir> <kubeconfig> | down <dir>" ;;
esac
