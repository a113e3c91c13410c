#!/usr/bin/env bash
# The volumes the examples name, on the local node: PersistentVolumeClaims "models", "datasets"
# and "adapters" in a namespace, each bound to a hostPath PersistentVolume on a folder of this
# machine (<folder>/models, ...), so files put there before a run are what pods see, and what
# trainers write is there after it.
#
# Usage: hack/claims.sh <kubeconfig> <namespace> <folder>
#
# Static binding (the PV's claimRef and the claim's volumeName, storageClassName ""): no
# provisioner runs here. Pods run as non-root users, so "adapters" is writable by all.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUBECTL="${LORA_TOOLS_BIN:-${ROOT}/.tools/bin}/kubectl"
[[ $# -eq 3 ]] || { echo "usage: $0 <kubeconfig> <namespace> <folder>" >&2; exit 1; }
KUBECONFIG_FILE="$1" NAMESPACE="$2"
mkdir -p "$3"
FOLDER="$(cd "$3" && pwd)"

manifests() {
  local claim mode
  for claim in models datasets adapters; do
    mode=0755
    [[ "${claim}" == adapters ]] && mode=1777
    mkdir -p "${FOLDER}/${claim}"
    chmod "${mode}" "${FOLDER}/${claim}"
    cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: ${NAMESPACE}-${claim}
  labels:
    loraops.io/local-claims: ${NAMESPACE}
spec:
  capacity:
    storage: 10Gi
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef:
    namespace: ${NAMESPACE}
    name: ${claim}
  hostPath:
    path: ${FOLDER}/${claim}
    type: Directory
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ${claim}
  namespace: ${NAMESPACE}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  volumeName: ${NAMESPACE}-${claim}
  resources:
    requests:
      storage: 10Gi
EOF
  done
}

manifests | "${KUBECTL}" --kubeconfig "${KUBECONFIG_FILE}" apply -f - >/dev/null
"${KUBECTL}" --kubeconfig "${KUBECONFIG_FILE}" -n "${NAMESPACE}" wait --for=jsonpath='{.status.phase}'=Bound \
  --timeout=60s pvc/models pvc/datasets pvc/adapters >/dev/null
