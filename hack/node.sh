#!/usr/bin/env bash
# A real node for the control plane of hack/control-plane.sh: kube-scheduler, containerd (with
# runc and the bridge CNI plugin from Debian's packages) and kubelet, all on this machine.
#
# Usage:
#   hack/node.sh up <dir>      start the node of the control plane in <dir> (no-op if it runs);
#                              waits until the Node is Ready and advertises its extended resources
#   hack/node.sh down <dir>    stop it and undo what it changed on the host (mounts, the bridge,
#                              cgroups, sysctls, containerd's fixed paths)
#   hack/node.sh status <dir>  print state; exit 0 only if everything runs
#
# State lives under <dir>/node: containerd's root, state and socket, kubelet's root and pod logs,
# the CNI config and IP allocations, logs, pid files. Images are imported by hack/images.sh.
#
# What this machine lacks, and how the node copes (README: "The local node"):
#   - the VM mounts cgroup v1: kubelet runs with failCgroupV1: false and the cgroupfs driver;
#   - root lacks CAP_SYS_RESOURCE: containerd must not raise oom_score_adj
#     (restrict_oom_score_adj), else every sandbox fails with "can't get final child's PID";
#   - images come from no registry: imageGCHighThresholdPercent 100 keeps them all.
# Pods get addresses on a bridge (lora0, 10.244.0.0/24) with no default route: the host reaches
# them and they reach each other; a firewall rule drops whatever they send that would be
# forwarded beyond the bridge, so nothing leaves this machine.
#   - no kube-proxy: one DNAT rule plays its part for the one Service pods need, `kubernetes`
#     (10.0.0.1:443 -> the API server on 127.0.0.1), so in-cluster clients (the operator's pod)
#     work unchanged; other Service IPs route nowhere.
#
# Environment:
#   LORA_TOOLS_BIN        binaries (default: <repo>/.tools/bin)
#   LORA_NODE_RESOURCES   extended resources to advertise (default: nvidia.com/gpu=4); not real
#                         devices: the trainer runs on the CPU whatever a pod requests
#   LORA_NODE_TIMEOUT     seconds 'up' waits for a Ready node (default: 120)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${LORA_TOOLS_BIN:-${ROOT}/.tools/bin}"
TIMEOUT="${LORA_NODE_TIMEOUT:-120}"
RESOURCES="${LORA_NODE_RESOURCES:-nvidia.com/gpu=4}"
NODE_NAME=localhost
BRIDGE=lora0
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
# hack/control-plane.sh's Service range and the `kubernetes` Service's ClusterIP.
SERVICE_CIDR=10.0.0.0/24
KUBERNETES_SERVICE_IP=10.0.0.1
RULE_TAG=lora-node
# One node per host (the bridge, the iptables rules and kubelet's cgroups are host-wide): the
# folder of the node that runs, written by 'up', removed by 'down'.
OWNER_FILE=/run/lora-node.owner
CNI_BIN=/usr/lib/cni
PAUSE_IMAGE=localhost/lora/pause:3.10
# kubelet sets these (protectKernelDefaults: false); 'down' puts back what was there before.
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)
COMPONENTS=(kube-scheduler containerd kubelet) # start order; stopped in reverse
# Paths the daemons use whatever their configuration says (containerd's shim sockets, kubelet's
# device-plugin folder, the CNI result cache); 'down' removes those that 'up' found missing.
FIXED_PATHS=(/run/containerd /var/lib/kubelet /var/lib/cni)

PROC_NAME=node
# shellcheck source=lib/processes.sh
source "${ROOT}/hack/lib/processes.sh"

usage() { die "usage: $0 up|down|status <control-plane dir>"; }

kubectl_() { "${BIN_DIR}/kubectl" --kubeconfig "${DIR}/kubeconfig" --request-timeout=10s "$@"; }
ctr_() { ctr --address "${NODE}/containerd/containerd.sock" --namespace k8s.io "$@"; }

# ---- configuration ------------------------------------------------------------------------
write_containerd_config() {
  local c="${NODE}/containerd"
  mkdir -p "${c}/root" "${c}/state" "${c}/opt" "${c}/certs.d/_default" "${NODE}/cni/net.d" "${NODE}/cni/ipam"
  printf 'server = "http://127.0.0.1:9"\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n' \
    >"${c}/certs.d/_default/hosts.toml"
  cat >"${c}/config.toml" <<EOF
version = 2
root = "${c}/root"
state = "${c}/state"

[grpc]
  address = "${c}/containerd.sock"
[ttrpc]
  address = "${c}/containerd.sock.ttrpc"
[debug]
  address = "${c}/debug.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "${c}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${c}/runc"
  # Every registry resolves to a closed loopback port: an image that was not imported fails
  # to pull at once (ErrImagePull) instead of reaching out.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${c}/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${NODE}/cni/net.d"
EOF
  # Routes to the pod subnet and to the Service range (through the bridge, where the DNAT rule
  # answers for the `kubernetes` Service) only: no default route, no masquerade.
  cat >"${NODE}/cni/net.d/10-lora.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "lora-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${BRIDGE}",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "${POD_CIDR}", "gateway": "${POD_GATEWAY}" }]],
        "routes": [{ "dst": "${SERVICE_CIDR}" }],
        "dataDir": "${NODE}/cni/ipam"
      }
    }
  ]
}
EOF
}

write_kubelet_config() {
  local pki="${DIR}/pki"
  mkdir -p "${NODE}/kubelet" "${NODE}/pod-logs"
  cat >"${NODE}/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: ${KUBELET_PORT}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${KUBELET_HEALTHZ_PORT}
containerRuntimeEndpoint: unix://${NODE}/containerd/containerd.sock
# cgroup v1 on this VM, and containerd 1.6 without systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${pki}/ca.crt }
authorization:
  mode: Webhook
podLogsDir: ${NODE}/pod-logs
# Images come from no registry: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Evict only when the disk is really full, in absolute terms: a developer's disk is not a
# node's (2% of a 250 GB disk is 5 GB; under that, kubelet tainted the node disk-pressure and
# no pod was scheduled).
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1Gi
  imagefs.available: 1Gi
  nodefs.inodesFree: 1%
maxPods: 40
serializeImagePulls: false
EOF
}

# ---- host changes and their undo ----------------------------------------------------------
save_sysctls() {
  local f="${NODE}/sysctl.saved" s
  [[ -f "${f}" ]] && return 0
  for s in "${SYSCTLS[@]}"; do echo "${s}=$(sysctl -n "${s}")"; done >"${f}.tmp"
  mv "${f}.tmp" "${f}"
}

note_missing_fixed_paths() {
  local p
  for p in "${FIXED_PATHS[@]}"; do
    [[ -e "${p}" ]] || grep -qx -- "${p}" "${NODE}/created-paths" 2>/dev/null || echo "${p}" >>"${NODE}/created-paths"
  done
  # kubelet adds chains of its own (KUBE-FIREWALL, KUBE-KUBELET-CANARY) to iptables and
  # ip6tables: noted as 'created' when none were there.
  local ipt
  for ipt in iptables ip6tables; do
    if ! "${ipt}-save" 2>/dev/null | grep -q '^:KUBE-' && ! grep -qx -- "${ipt}" "${NODE}/created-paths" 2>/dev/null; then
      echo "${ipt}" >>"${NODE}/created-paths"
    fi
  done
}

# Every KUBE-* chain of kubelet's, with the rules that jump to them.
remove_kubelet_chains() {
  local ipt="$1" table rules rule chain
  for table in filter nat mangle; do
    rules="$("${ipt}" -t "${table}" -S 2>/dev/null)" || continue
    while read -r rule; do
      if [[ "${rule}" == "-A "*"-j KUBE-"* && "${rule}" != "-A KUBE-"* ]]; then eval "${ipt} -t ${table} -D ${rule#-A }"; fi
    done <<<"${rules}"
    for chain in $(sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p' <<<"${rules}"); do
      "${ipt}" -t "${table}" -F "${chain}"
    done
    for chain in $(sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p' <<<"${rules}"); do
      "${ipt}" -t "${table}" -X "${chain}" 2>/dev/null || true
    done
  done
}

remove_created_fixed_paths() {
  local p
  [[ -f "${NODE}/created-paths" ]] || return 0
  while read -r p; do
    case "${p}" in
      iptables | ip6tables) remove_kubelet_chains "${p}" ;;
      *) rm -rf -- "${p}" ;;
    esac
  done <"${NODE}/created-paths"
  rm -f "${NODE}/created-paths"
}

restore_sysctls() {
  local f="${NODE}/sysctl.saved"
  [[ -f "${f}" ]] || return 0
  sysctl -q -p "${f}" >/dev/null || log "could not restore sysctls from ${f}"
  rm -f "${f}"
}

# The bridge exists before the first pod so its sysctl and rules can be set: pods reach the
# `kubernetes` Service (DNAT to the API server's loopback address, which route_localnet allows
# for packets from the bridge), and nothing from a pod is forwarded beyond the bridge.
setup_pod_network() {
  local port
  port="$(sed -n 's/^APISERVER_PORT=//p' "${DIR}/ports.env")"
  ip link show "${BRIDGE}" >/dev/null 2>&1 || ip link add "${BRIDGE}" type bridge
  ip addr replace "${POD_GATEWAY}/${POD_CIDR#*/}" dev "${BRIDGE}"
  ip link set "${BRIDGE}" up
  sysctl -q -w "net.ipv4.conf.${BRIDGE}.route_localnet=1"
  remove_rules
  iptables -t nat -A PREROUTING -i "${BRIDGE}" -d "${KUBERNETES_SERVICE_IP}/32" -p tcp --dport 443 \
    -m comment --comment "${RULE_TAG}" -j DNAT --to-destination "127.0.0.1:${port}"
  iptables -t filter -I FORWARD -i "${BRIDGE}" ! -o "${BRIDGE}" \
    -m comment --comment "${RULE_TAG}" -j DROP
}

remove_rules() {
  local table rule rules
  for table in nat filter; do
    # (Captured first: grep finding nothing must not end the script under pipefail.)
    rules="$(iptables -t "${table}" -S 2>/dev/null)" || continue
    while read -r rule; do
      if [[ "${rule}" == "-A "*"--comment ${RULE_TAG} "* ]]; then eval "iptables -t ${table} -D ${rule#-A }"; fi
    done <<<"${rules}"
  done
}

# Every mount below the node's folder (kubelet's rshared root, volume tmpfs, containerd's
# rootfs overlays and network namespaces), deepest first.
unmount_below() {
  local m
  while read -r m; do
    umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null || log "could not unmount ${m}"
  done < <(awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | uniq)
}

# kubelet's pod cgroups (cgroupfs driver: kubepods/ in each v1 hierarchy), leaves first.
remove_pod_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do
    [[ -d "${d}" ]] || continue
    find "${d}" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# The pods' processes: every containerd task, then the shims that outlive their containerd.
kill_pods() {
  local id pid
  if [[ -S "${NODE}/containerd/containerd.sock" ]] && running_pid containerd >/dev/null; then
    for id in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "${id}" >/dev/null 2>&1 || true; done
    sleep 1
    for id in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks delete -f "${id}" >/dev/null 2>&1 || true; done
  fi
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address ${NODE}/containerd/containerd.sock" || true); do
    kill -KILL "${pid}" 2>/dev/null || true
  done
}

# ---- commands -----------------------------------------------------------------------------
node_ready() {
  [[ "$(kubectl_ get node "${NODE_NAME}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}
containerd_ready() { ctr_ version >/dev/null 2>&1; }
scheduler_healthy() { [[ "$(curl -sk --max-time 2 "https://127.0.0.1:${SCHEDULER_PORT}/healthz" 2>/dev/null)" == ok ]]; }

# The documented way to advertise an extended resource: a JSON patch of the Node's status.
# kubelet zeroes such capacity when it restarts, so every 'up' sets it again.
advertise_resources() {
  local patch="" kv name value
  IFS=, read -ra kvs <<<"${RESOURCES}"
  for kv in "${kvs[@]}"; do
    name="${kv%%=*}" value="${kv#*=}"
    patch+="${patch:+,}{\"op\":\"add\",\"path\":\"/status/capacity/${name//\//~1}\",\"value\":\"${value}\"}"
  done
  [[ -n "${patch}" ]] || return 0
  kubectl_ patch node "${NODE_NAME}" --subresource=status --type=json -p "[${patch}]" >/dev/null
  kubectl_ label node "${NODE_NAME}" --overwrite loraops.io/simulated-gpus=true >/dev/null
}

cmd_up() {
  local t0=${SECONDS} c
  [[ -f "${DIR}/kubeconfig" ]] || die "no control plane in ${DIR} (hack/control-plane.sh up ${DIR})"
  [[ ${EUID} -eq 0 ]] || die "containerd and kubelet need root"
  if all_running && node_ready; then
    advertise_resources
    log "already running (node ${NODE_NAME})"
    return 0
  fi
  local owner
  owner="$(cat "${OWNER_FILE}" 2>/dev/null || true)"
  if [[ -n "${owner}" && "${owner}" != "${NODE}" && -d "${owner}" ]] &&
    pgrep -f -- "--root-dir=${owner}/kubelet" >/dev/null; then
    die "another local node runs from ${owner%/node}: one node per host; stop it first (hack/node.sh down ${owner%/node}, or make down)"
  fi
  stop_all >/dev/null
  echo "${NODE}" >"${OWNER_FILE}"
  for c in kube-scheduler kubelet kubectl; do
    [[ -x "${BIN_DIR}/${c}" ]] || die "missing ${BIN_DIR}/${c}; run hack/install-tools.sh"
  done
  for c in containerd ctr runc; do
    command -v "${c}" >/dev/null || die "missing '${c}' (apt-get install containerd runc containernetworking-plugins)"
  done
  [[ -x "${CNI_BIN}/bridge" ]] || die "missing ${CNI_BIN}/bridge (apt-get install containernetworking-plugins)"

  mkdir -p "${NODE}/run" "${NODE}/logs"
  free_port SCHEDULER_PORT
  free_port KUBELET_PORT
  free_port KUBELET_HEALTHZ_PORT
  write_containerd_config
  write_kubelet_config
  save_sysctls
  note_missing_fixed_paths
  setup_pod_network
  DEADLINE=$((SECONDS + TIMEOUT))

  start_component kube-scheduler "${BIN_DIR}/kube-scheduler" \
    --kubeconfig="${DIR}/pki/scheduler.kubeconfig" \
    --authentication-kubeconfig="${DIR}/pki/scheduler.kubeconfig" \
    --authorization-kubeconfig="${DIR}/pki/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="${SCHEDULER_PORT}" --leader-elect=false
  wait_for kube-scheduler "kube-scheduler not healthy" scheduler_healthy

  start_component containerd "$(command -v containerd)" --config "${NODE}/containerd/config.toml"
  wait_for containerd "containerd does not answer on ${NODE}/containerd/containerd.sock" containerd_ready
  ctr_ images check "name==${PAUSE_IMAGE}" 2>/dev/null | grep -q "${PAUSE_IMAGE}" ||
    log "the pause image ${PAUSE_IMAGE} is not imported yet (hack/images.sh): pods wait for it"

  start_component kubelet "${BIN_DIR}/kubelet" \
    --config="${NODE}/kubelet-config.yaml" --kubeconfig="${DIR}/pki/kubelet.kubeconfig" \
    --root-dir="${NODE}/kubelet" --cert-dir="${NODE}/kubelet/pki" --hostname-override="${NODE_NAME}"
  wait_for kubelet "node ${NODE_NAME} not Ready" node_ready
  advertise_resources
  log "up in $((SECONDS - t0))s: node ${NODE_NAME} Ready (kubelet :${KUBELET_PORT}, containerd ${NODE}/containerd/containerd.sock)"
}

stop_all() {
  stop_components kubelet
  kill_pods
  stop_components containerd
  stop_components kube-scheduler
  unmount_below "${NODE}"
  remove_rules
  ip link delete "${BRIDGE}" 2>/dev/null || true
  rm -rf "${NODE}/cni/ipam"
  remove_pod_cgroups
  restore_sysctls
  remove_created_fixed_paths
  if [[ "$(cat "${OWNER_FILE}" 2>/dev/null)" == "${NODE}" ]]; then rm -f "${OWNER_FILE}"; fi
}

cmd_down() {
  [[ -d "${NODE}" ]] || { log "nothing running in ${DIR}"; return 0; }
  stop_all
}

cmd_status() {
  local c pid rc=0
  for c in "${COMPONENTS[@]}"; do
    if pid="$(running_pid "${c}")"; then
      printf '%-24s running (pid %s)\n' "${c}" "${pid}"
    else
      printf '%-24s stopped\n' "${c}"
      rc=1
    fi
  done
  if [[ ${rc} -eq 0 ]] && ! node_ready; then
    printf '%-24s NOT Ready\n' "node/${NODE_NAME}"
    rc=1
  fi
  return "${rc}"
}

[[ $# -eq 2 && -n "$2" ]] || usage
[[ -d "$2" ]] || { [[ "$1" != up ]] && { log "nothing running in $2"; exit 0; }; die "no control plane in $2"; }
DIR="$(cd "$2" && pwd)"
NODE="${DIR}/node"
PROC_STATE="${NODE}" PROC_MARK="${DIR}/"
if [[ "$1" != status ]] && command -v flock >/dev/null 2>&1; then
  mkdir -p "${NODE}"
  exec 9>"${NODE}/node.lock"
  flock -w 120 9 || die "another node.sh has held ${NODE}/node.lock for 120s"
fi
case "$1" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) usage ;;
esac
