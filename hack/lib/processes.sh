# Process helpers shared by hack/control-plane.sh and hack/node.sh: start daemons detached, find
# them again by pid file, wait for them to become healthy, stop them. Sourced, not run.
#
# The caller sets, before calling any of these:
#   PROC_NAME    prefix of messages ("control-plane", "node")
#   PROC_STATE   directory holding run/ (pid files) and logs/ (one log per component)
#   PROC_MARK    a string every command line we start contains (our state directory), so a pid
#                that the kernel has recycled for someone else's process is never touched
#   COMPONENTS   array of component names (wait_for watches all of them)
#   TIMEOUT, DEADLINE   seconds allowed for 'up', and the SECONDS value it ends at
# and may define on_fail (run by fail() before it exits, e.g. to stop what was started).

log() { echo "${PROC_NAME}: $*"; }
die() { echo "${PROC_NAME}: $*" >&2; exit 1; }

pidfile() { echo "${PROC_STATE}/run/$1.pid"; }

# Prints the pid of component $1 if it is alive and is the process we started.
running_pid() {
  local f pid cmdline
  f="$(pidfile "$1")"
  [[ -f "${f}" ]] || return 1
  pid="$(<"${f}")"
  [[ "${pid}" =~ ^[0-9]+$ && -r "/proc/${pid}/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null)" || return 1
  [[ "${cmdline}" == *"${PROC_MARK}"* ]] || return 1
  echo "${pid}"
}

# start_component NAME EXECUTABLE ARGS...
start_component() {
  local name="$1" exe="$2"
  shift 2
  # setsid: the processes outlive the calling shell and do not get its Ctrl-C; only 'down'
  # stops them. In a script (no job control) setsid execs in place, so $! is their pid.
  # 9>&-: the daemons must not inherit (and so hold forever) the caller's lock on fd 9.
  setsid "${exe}" "$@" </dev/null >>"${PROC_STATE}/logs/${name}.log" 2>&1 9>&- &
  echo "$!" >"$(pidfile "${name}")"
}

# stop_components NAME...: SIGTERM to each that runs, then up to 10 s for all of them to exit
# before SIGKILL.
stop_components() {
  local name pid i n names=() pids=()
  for name in "$@"; do
    if pid="$(running_pid "${name}")"; then
      kill -TERM "${pid}" 2>/dev/null || true
      names+=("${name}")
      pids+=("${pid}")
    fi
    rm -f "$(pidfile "${name}")"
  done
  for i in "${!pids[@]}"; do
    for ((n = 0; n < 100; n++)); do
      kill -0 "${pids[i]}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pids[i]}" 2>/dev/null; then
      kill -KILL "${pids[i]}" 2>/dev/null || true
      log "${names[i]} (pid ${pids[i]}) did not stop in 10s; killed"
    fi
    log "stopped ${names[i]} (pid ${pids[i]})"
  done
}

# fail COMPONENT MESSAGE: one-line reason and the end of the component's log, then on_fail.
fail() {
  local f="${PROC_STATE}/logs/$1.log"
  echo "${PROC_NAME}: $2" >&2
  if [[ -n "$1" && -f "${f}" ]]; then
    echo "---- last lines of ${f} ----" >&2
    tail -n 25 "${f}" >&2
  fi
  if declare -F on_fail >/dev/null; then on_fail >/dev/null 2>&1 || true; fi
  exit 1
}

# wait_for COMPONENT MESSAGE CHECK...: polls CHECK until it succeeds; fails at once if any
# started component died, or when the shared startup deadline passes.
wait_for() {
  local component="$1" message="$2" c
  shift 2
  until "$@"; do
    for c in "${COMPONENTS[@]}"; do
      if [[ -f "$(pidfile "${c}")" ]] && ! running_pid "${c}" >/dev/null; then
        fail "${c}" "${c} exited during startup"
      fi
    done
    ((SECONDS < DEADLINE)) || fail "${component}" "${message} after ${TIMEOUT}s"
    sleep 0.25
  done
}

all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do running_pid "${c}" >/dev/null || return 1; done
}

# Listening TCP ports (IPv4 and IPv6) read from /proc, so no extra tool is needed.
listening_ports() {
  local f
  for f in /proc/net/tcp /proc/net/tcp6; do
    # state 0A = LISTEN; local address is HEXIP:HEXPORT
    [[ -r "${f}" ]] && awk 'NR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' "${f}"
  done | sort -u | while read -r hex; do echo $((16#${hex})); done
}

# (Captured first: 'producer | grep -q' can fail with SIGPIPE under pipefail.)
port_in_use() {
  local ports
  ports="$(listening_ports)"
  grep -qx -- "$1" <<<"${ports}"
}

# free_port VAR: sets VAR to a free port below the kernel's ephemeral range (32768+), so an
# outgoing connection does not take it between now and the bind. Not in a $(...) subshell:
# TAKEN, the ports this script already chose, must outlive the call.
TAKEN=" "
free_port() {
  local _var="$1" _port _try
  for ((_try = 0; _try < 200; _try++)); do
    _port=$((20000 + RANDOM % 12000))
    [[ "${TAKEN}" == *" ${_port} "* ]] && continue
    port_in_use "${_port}" && continue
    TAKEN+="${_port} "
    printf -v "${_var}" '%s' "${_port}"
    return 0
  done
  die "found no free TCP port on 127.0.0.1"
}
