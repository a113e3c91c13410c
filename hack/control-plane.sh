#!/usr/bin/env bash
# A real, minimal Kubernetes control plane on loopback for integration tests and the demo:
# etcd + kube-apiserver + kube-controller-manager from .tools/bin (hack/install-tools.sh).
# There is no kubelet and no scheduler: Pods are created (by Jobs, ...) but stay Pending, unless
# hack/node.sh adds a real node (kube-scheduler, containerd, kubelet) to the same <dir>.
#
# Usage:
#   hack/control-plane.sh up <dir>      start (no-op if already running); waits until ready
#   hack/control-plane.sh down <dir>    stop the processes this script started in <dir>
#   hack/control-plane.sh status <dir>  print state; exit 0 only if everything runs
#
# All state lives under <dir>: etcd data, certificates and tokens (pki/), logs (logs/),
# pid files (run/), the chosen ports (ports.env) and an admin kubeconfig (kubeconfig).
# Everything listens on 127.0.0.1 only.
#
# Environment:
#   LORA_TOOLS_BIN              binaries (default: <repo>/.tools/bin)
#   LORA_APISERVER_PORT         kube-apiserver secure port   (default: a free port)
#   LORA_ETCD_PORT              etcd client port            (default: a free port)
#   LORA_ETCD_PEER_PORT         etcd peer port              (default: a free port)
#   LORA_KCM_PORT               kube-controller-manager secure (health) port (default: a free port)
#   LORA_CONTROL_PLANE_TIMEOUT  seconds 'up' waits for readiness (default: 60)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${LORA_TOOLS_BIN:-${ROOT}/.tools/bin}"
TIMEOUT="${LORA_CONTROL_PLANE_TIMEOUT:-60}"
COMPONENTS=(etcd kube-apiserver kube-controller-manager) # start order; stopped in reverse
# Cluster-internal ranges only; nothing is routed to them (no kubelet, no kube-proxy).
SERVICE_CIDR="10.0.0.0/24"
SERVICE_IP="10.0.0.1"

PROC_NAME=control-plane
# shellcheck source=lib/processes.sh
source "${ROOT}/hack/lib/processes.sh"
on_fail() { stop_all; }

usage() { die "usage: $0 up|down|status <dir>"; }

# The apiserver and kcm stop together (kcm's errors while its apiserver goes away do not
# matter); etcd last, so the apiserver can finish its writes.
stop_all() {
  stop_components kube-controller-manager kube-apiserver
  stop_components etcd
}

# ---- ports --------------------------------------------------------------------------------
# choose_port VAR ENV_NAME SAVED: the env override wins, then the port used last time in this
# <dir> (keeps an existing kubeconfig valid), then a random free one.
choose_port() {
  local var="$1" env_name="$2" saved="$3" p
  p="${!env_name:-}"
  if [[ -n "${p}" ]]; then
    [[ "${p}" =~ ^[0-9]+$ ]] || die "${env_name}='${p}' is not a port number"
    port_in_use "${p}" && die "port ${p} (${env_name}) is already in use"
  elif [[ -n "${saved}" ]] && ! port_in_use "${saved}" && [[ "${TAKEN}" != *" ${saved} "* ]]; then
    p="${saved}"
  else
    free_port p
  fi
  TAKEN+="${p} "
  printf -v "${var}" '%s' "${p}"
}

# ---- certificates, tokens, kubeconfig -----------------------------------------------------
ossl() { openssl "$@" >/dev/null 2>&1 || die "openssl $1 failed (pki in ${DIR}/pki)"; }

# A throw-away CA signs the apiserver's serving certificate, so clients (kubectl, fabric8)
# verify TLS against certificate-authority-data instead of skipping verification.
ensure_pki() {
  local pki="${DIR}/pki"
  mkdir -p "${pki}"
  chmod 700 "${pki}"
  if [[ ! -f "${pki}/ca.crt" ]]; then
    ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=lora-local-ca" \
      -keyout "${pki}/ca.key" -out "${pki}/ca.crt"
  fi
  if [[ ! -f "${pki}/apiserver.crt" ]]; then
    printf '%s\n' \
      "basicConstraints=CA:FALSE" \
      "keyUsage=digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,IP:${SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      >"${pki}/apiserver.ext"
    ossl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=kube-apiserver" \
      -keyout "${pki}/apiserver.key" -out "${pki}/apiserver.csr"
    ossl x509 -req -sha256 -days 3650 -in "${pki}/apiserver.csr" -CA "${pki}/ca.crt" \
      -CAkey "${pki}/ca.key" -CAcreateserial -extfile "${pki}/apiserver.ext" -out "${pki}/apiserver.crt.tmp"
    mv "${pki}/apiserver.crt.tmp" "${pki}/apiserver.crt"
  fi
  # Key pair that signs and verifies ServiceAccount tokens.
  if [[ ! -f "${pki}/sa.pub" ]]; then
    ossl genrsa -out "${pki}/sa.key" 2048
    ossl rsa -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub"
  fi
  # Client certificate of the apiserver towards kubelets (kubectl logs/exec through a node of
  # hack/node.sh); kubelet trusts the same CA.
  if [[ ! -f "${pki}/apiserver-kubelet-client.crt" ]]; then
    ossl req -newkey rsa:2048 -nodes -sha256 -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
      -keyout "${pki}/apiserver-kubelet-client.key" -out "${pki}/apiserver-kubelet-client.csr"
    printf 'extendedKeyUsage=clientAuth\n' >"${pki}/client.ext"
    ossl x509 -req -sha256 -days 3650 -in "${pki}/apiserver-kubelet-client.csr" -CA "${pki}/ca.crt" \
      -CAkey "${pki}/ca.key" -CAcreateserial -extfile "${pki}/client.ext" -out "${pki}/apiserver-kubelet-client.crt"
  fi
  # Static bearer tokens: an admin and the controller manager, both in system:masters (a
  # throw-away test cluster; it spares kcm per-controller service-account credentials); the
  # scheduler and the node's kubelet (hack/node.sh) with the identities the default RBAC
  # roles and the Node authorizer expect. A line missing from an older tokens.csv is added.
  local user line
  touch "${pki}/tokens.csv"
  for line in 'admin,uid-admin,"system:masters"' \
    'system:kube-controller-manager,uid-kcm,"system:masters"' \
    'system:kube-scheduler,uid-scheduler' \
    'system:node:localhost,uid-node-localhost,"system:nodes"'; do
    user="${line%%,*}"
    awk -F, -v u="${user}" '$2 == u { found = 1 } END { exit !found }' "${pki}/tokens.csv" ||
      echo "$(openssl rand -hex 24),${line}" >>"${pki}/tokens.csv"
  done
}

token_of() { awk -F, -v u="$1" '$2 == u { print $1 }' "${DIR}/pki/tokens.csv"; }

write_kubeconfig() {
  local out="$1" user="$2" ca
  ca="$(base64 -w0 <"${DIR}/pki/ca.crt")"
  cat >"${out}.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lora-local
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    token: $(token_of "${user}")
contexts:
- name: lora-local
  context:
    cluster: lora-local
    user: ${user}
    namespace: default
current-context: lora-local
EOF
  chmod 600 "${out}.tmp"
  mv "${out}.tmp" "${out}"
}

# ---- commands -----------------------------------------------------------------------------
load_ports() {
  SAVED_APISERVER_PORT="" SAVED_ETCD_PORT="" SAVED_ETCD_PEER_PORT="" SAVED_KCM_PORT=""
  if [[ -f "${DIR}/ports.env" ]]; then
    # shellcheck disable=SC1091 # written by this script
    source "${DIR}/ports.env"
    SAVED_APISERVER_PORT="${APISERVER_PORT:-}" SAVED_ETCD_PORT="${ETCD_PORT:-}"
    SAVED_ETCD_PEER_PORT="${ETCD_PEER_PORT:-}" SAVED_KCM_PORT="${KCM_PORT:-}"
  fi
}

kubectl_() { "${BIN_DIR}/kubectl" --kubeconfig "${DIR}/kubeconfig" --request-timeout=5s "$@"; }
apiserver_ready() { [[ "$(kubectl_ get --raw=/readyz 2>/dev/null)" == "ok" ]]; }
kcm_healthy() { [[ "$(curl -sk --max-time 2 "https://127.0.0.1:${KCM_PORT}/healthz" 2>/dev/null)" == "ok" ]]; }
etcd_healthy() { [[ "$(curl -s --max-time 2 "http://127.0.0.1:${ETCD_PORT}/health" 2>/dev/null)" == *'"health":"true"'* ]]; }

default_sa_exists() { kubectl_ -n default get serviceaccount default >/dev/null 2>&1; }

cmd_up() {
  local t0=${SECONDS} c
  load_ports
  if all_running; then
    # shellcheck disable=SC1091
    source "${DIR}/ports.env"
    if apiserver_ready; then
      log "already running in ${DIR} (https://127.0.0.1:${APISERVER_PORT})"
      return 0
    fi
  fi
  # Something is half up (or up but not answering): start again from a clean slate of
  # processes; the data in <dir> is kept.
  stop_all >/dev/null

  for c in "${COMPONENTS[@]}"; do
    [[ -x "${BIN_DIR}/${c}" ]] || die "missing ${BIN_DIR}/${c}; run hack/install-tools.sh"
  done
  [[ -x "${BIN_DIR}/kubectl" ]] || die "missing ${BIN_DIR}/kubectl; run hack/install-tools.sh"
  command -v openssl >/dev/null 2>&1 || die "missing prerequisite 'openssl'"
  command -v curl >/dev/null 2>&1 || die "missing prerequisite 'curl'"
  command -v setsid >/dev/null 2>&1 || die "missing prerequisite 'setsid' (util-linux)"

  choose_port ETCD_PORT LORA_ETCD_PORT "${SAVED_ETCD_PORT}"
  choose_port ETCD_PEER_PORT LORA_ETCD_PEER_PORT "${SAVED_ETCD_PEER_PORT}"
  choose_port APISERVER_PORT LORA_APISERVER_PORT "${SAVED_APISERVER_PORT}"
  choose_port KCM_PORT LORA_KCM_PORT "${SAVED_KCM_PORT}"
  mkdir -p "${DIR}/run" "${DIR}/logs" "${DIR}/etcd" "${DIR}/kcm-certs" "${DIR}/flexvolume"
  chmod 700 "${DIR}/etcd"
  printf 'APISERVER_PORT=%s\nETCD_PORT=%s\nETCD_PEER_PORT=%s\nKCM_PORT=%s\n' \
    "${APISERVER_PORT}" "${ETCD_PORT}" "${ETCD_PEER_PORT}" "${KCM_PORT}" >"${DIR}/ports.env"
  ensure_pki
  write_kubeconfig "${DIR}/kubeconfig" admin
  write_kubeconfig "${DIR}/pki/kcm.kubeconfig" system:kube-controller-manager
  write_kubeconfig "${DIR}/pki/scheduler.kubeconfig" system:kube-scheduler
  write_kubeconfig "${DIR}/pki/kubelet.kubeconfig" system:node:localhost
  local pki="${DIR}/pki"

  # Components start one after the other, each once the previous one is healthy: no
  # connection-refused noise in the logs, and a failure names the component at fault.
  DEADLINE=$((SECONDS + TIMEOUT))

  # --unsafe-no-fsync: tests throw the data away, and fsync dominates etcd latency on
  # shared disks.
  start_component etcd "${BIN_DIR}/etcd" \
    --name=lora-local --data-dir="${DIR}/etcd" \
    --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster="lora-local=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --unsafe-no-fsync --log-level=warn
  wait_for etcd "etcd not healthy on 127.0.0.1:${ETCD_PORT}" etcd_healthy

  # --endpoint-reconciler-type=none: the 'kubernetes' Service would otherwise get a
  #   loopback endpoint, which Endpoints validation rejects (log noise every 10s).
  # --requestheader-*: completes kube-system/extension-apiserver-authentication, which
  #   kcm's delegated authentication reads (it logs errors every few seconds otherwise);
  #   no front-proxy client certificate is ever issued.
  # --kubelet-preferred-address-types=Hostname,...: hack/node.sh's kubelet listens on 127.0.0.1
  #   as node 'localhost' (a node's InternalIP cannot be a loopback address).
  # --authorization-mode=Node,RBAC: that kubelet is authorized as a node, as in a real cluster.
  start_component kube-apiserver "${BIN_DIR}/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="${APISERVER_PORT}" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --tls-cert-file="${pki}/apiserver.crt" --tls-private-key-file="${pki}/apiserver.key" \
    --client-ca-file="${pki}/ca.crt" \
    --requestheader-client-ca-file="${pki}/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --token-auth-file="${pki}/tokens.csv" --authorization-mode=Node,RBAC \
    --kubelet-client-certificate="${pki}/apiserver-kubelet-client.crt" \
    --kubelet-client-key="${pki}/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=Hostname,InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${pki}/sa.pub" --service-account-signing-key-file="${pki}/sa.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" --endpoint-reconciler-type=none \
    --allow-privileged=true --profiling=false
  wait_for kube-apiserver "kube-apiserver not ready (/readyz) on 127.0.0.1:${APISERVER_PORT}" apiserver_ready

  # --controllers=*: the default set (job, garbage collector, namespace, serviceaccount,
  #   serviceaccount-token, ...). --use-service-account-credentials=false: every controller
  #   uses kcm's own (system:masters) token.
  # --flex-volume-plugin-dir: kcm creates it when missing; keep that inside <dir>.
  start_component kube-controller-manager "${BIN_DIR}/kube-controller-manager" \
    --kubeconfig="${pki}/kcm.kubeconfig" \
    --authentication-kubeconfig="${pki}/kcm.kubeconfig" \
    --authorization-kubeconfig="${pki}/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="${KCM_PORT}" --cert-dir="${DIR}/kcm-certs" \
    --controllers='*' --use-service-account-credentials=false --leader-elect=false \
    --service-account-private-key-file="${pki}/sa.key" --root-ca-file="${pki}/ca.crt" \
    --cluster-signing-cert-file="${pki}/ca.crt" --cluster-signing-key-file="${pki}/ca.key" \
    --flex-volume-plugin-dir="${DIR}/flexvolume" --profiling=false
  wait_for kube-controller-manager "kube-controller-manager not healthy on 127.0.0.1:${KCM_PORT}" kcm_healthy
  # Created by kcm's serviceaccount controller; until it exists, admission refuses Pods in
  # namespace default.
  wait_for kube-controller-manager "ServiceAccount default/default not created" default_sa_exists

  log "up in $((SECONDS - t0))s: https://127.0.0.1:${APISERVER_PORT}  (export KUBECONFIG=${DIR}/kubeconfig)"
}

cmd_down() {
  local c any=""
  for c in "${COMPONENTS[@]}"; do running_pid "${c}" >/dev/null && any=1; done
  [[ -n "${any}" ]] || log "nothing running in ${DIR}"
  stop_all
}

cmd_status() {
  local c pid rc=0
  load_ports
  for c in "${COMPONENTS[@]}"; do
    if pid="$(running_pid "${c}")"; then
      printf '%-24s running (pid %s)\n' "${c}" "${pid}"
    else
      printf '%-24s stopped\n' "${c}"
      rc=1
    fi
  done
  if [[ ${rc} -eq 0 && -n "${SAVED_APISERVER_PORT}" ]]; then
    APISERVER_PORT="${SAVED_APISERVER_PORT}"
    if apiserver_ready; then
      printf '%-24s https://127.0.0.1:%s ready (kubeconfig: %s)\n' apiserver "${APISERVER_PORT}" "${DIR}/kubeconfig"
    else
      printf '%-24s https://127.0.0.1:%s NOT ready\n' apiserver "${APISERVER_PORT}"
      rc=1
    fi
  fi
  return "${rc}"
}

[[ $# -eq 2 ]] || usage
CMD="$1"
[[ -n "$2" ]] || usage
if [[ "${CMD}" == up ]]; then mkdir -p "$2"; fi
if [[ ! -d "$2" ]]; then
  # down/status on a directory that was never used: nothing runs there.
  [[ "${CMD}" == down ]] && { log "nothing running in $2"; exit 0; }
  [[ "${CMD}" == status ]] && { echo "no control plane in $2"; exit 1; }
  usage
fi
DIR="$(cd "$2" && pwd)"
PROC_STATE="${DIR}" PROC_MARK="${DIR}/"
# Serialize up/down on one <dir> (two test JVMs, make demo + tests).
if [[ "${CMD}" != status ]] && command -v flock >/dev/null 2>&1; then
  exec 9>"${DIR}/control-plane.lock"
  flock -w 120 9 || die "another control-plane.sh has held ${DIR}/control-plane.lock for 120s"
fi
case "${CMD}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) usage ;;
esac
