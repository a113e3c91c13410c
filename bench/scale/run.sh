#!/usr/bin/env bash
# Scale benchmark (not a test): N LoraJobs x 4 trials created at once, all unschedulable (they ask
# for a GPU; there is no node), so nothing trains. Prints, from one run on one control plane:
#   - the time until all 4 x N trial Jobs exist with the operator, against a raw client creating
#     the same objects (the LoraJobs, and the ConfigMaps and Jobs the operator's own TrialJobBuilder
#     builds) with the same concurrency, and the ratio of the two rates (goal >= 0.8);
#   - the operator's RSS, idle and once every trial pod exists and reconciles have settled (goal
#     <= 300 MiB), run with the chart's JVM options (values.yaml `jvmOptions`) as its only flags;
#   - when the last of the operator's Events about the LoraJobs appeared (they are written after the
#     reconcile, by one writer), the operator's CPU time over its run, and the API server's count of
#     writes per LoraJob by kind (status patches, Events, ...);
#   - reconcile latency percentiles of the lorajob controller, from the operator's own metrics
#     (operator_sdk_controllers_execution_reconcile_seconds, a histogram).
#
#   bench/scale/run.sh [N]   (default 1000; THREADS=50: the operator's reconcile threads, JOSDK's
#                             default, and the raw client's; KEEP=1 keeps the work folder)
#
# Raw first, then the operator, in two namespaces of the same control plane (etcd then holds the
# raw run's objects too, which only slows the operator's run). Between the runs the Job controller
# creates the raw run's pods to the end, so the operator's run starts on a quiet API server.
# Needs `make tools` and the packaged operator (mvn -pl operator -am package -DskipTests); builds
# nothing. Heavy: run it under `flock -o /tmp/lora-heavy.lock` where the machine is shared.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-1000}
THREADS=${THREADS:-50}
APP=$ROOT/operator/target/quarkus-app
KUBECTL=$ROOT/.tools/bin/kubectl
die() { echo "scale-bench: $*" >&2; exit 1; }
[ -f "$APP/quarkus-run.jar" ] || die "$APP/quarkus-run.jar is missing: mvn -pl operator -am package -DskipTests"
[ -x "$KUBECTL" ] || die "$KUBECTL is missing: make tools"
# The chart's JVM options, exactly as values.yaml gives them to the operator container.
JVM_OPTIONS=$(sed -n 's/^jvmOptions: "\(.*\)"$/\1/p' "$ROOT/charts/lora-operator/values.yaml")
[ -n "$JVM_OPTIONS" ] || die "no jvmOptions in charts/lora-operator/values.yaml"
MALLOC_ARENA_MAX=$(sed -n 's/^mallocArenaMax: \([0-9]*\)$/\1/p' "$ROOT/charts/lora-operator/values.yaml")
[ -n "$MALLOC_ARENA_MAX" ] || die "no mallocArenaMax in charts/lora-operator/values.yaml"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/scale-bench.XXXXXX")
OPERATOR=
cleanup() {
  [ -z "$OPERATOR" ] || { kill "$OPERATOR" 2>/dev/null || true; wait "$OPERATOR" 2>/dev/null || true; }
  "$ROOT/hack/control-plane.sh" down "$WORK/cp" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "scale-bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "scale-bench: $N LoraJobs x 4 trials, $THREADS threads; control plane in $WORK/cp" >&2
"$ROOT/hack/control-plane.sh" up "$WORK/cp" >"$WORK/control-plane.log" 2>&1 \
  || { cat "$WORK/control-plane.log" >&2; die "the control plane did not start"; }
export KUBECONFIG=$WORK/cp/kubeconfig
"$KUBECTL" apply -f "$ROOT/crds/" >/dev/null
"$KUBECTL" create namespace bench-raw >/dev/null
"$KUBECTL" create namespace bench-op >/dev/null
# Pods need the namespace's default ServiceAccount (made by kcm) before admission lets them in.
for ns in bench-raw bench-op; do
  for _ in $(seq 100); do "$KUBECTL" -n "$ns" get serviceaccount default >/dev/null 2>&1 && break; sleep 0.2; done
done

CLIENT=(java -Xmx1g -Dslf4j.provider=org.slf4j.helpers.NOP_FallbackServiceProvider
  -cp "$APP/app/*:$APP/lib/main/*" "$ROOT/bench/scale/ScaleClient.java")
result() { sed -n "s/^scale-bench-result: $1 //p" "$WORK/$1.out"; }

# 1. The raw client, with no operator running.
"${CLIENT[@]}" raw bench-raw "$N" "$THREADS" | tee "$WORK/raw.out" >&2
"${CLIENT[@]}" pods bench-raw $((4 * N)) >&2

# 2. The operator, watching bench-op only, with the chart's JVM options.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
# shellcheck disable=SC2086 # JVM_OPTIONS is a list of flags
MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX QUARKUS_OPERATOR_SDK_NAMESPACES=bench-op \
  QUARKUS_OPERATOR_SDK_CONTROLLERS_LORAJOB_NAMESPACES=bench-op \
  QUARKUS_OPERATOR_SDK_CONTROLLERS_LORAADAPTER_NAMESPACES=bench-op \
  java $JVM_OPTIONS -Dquarkus.http.port="$PORT" -Dquarkus.http.host=127.0.0.1 \
  -jar "$APP/quarkus-run.jar" >"$WORK/operator.log" 2>&1 &
OPERATOR=$!
METRICS=http://127.0.0.1:$PORT/q/metrics
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$PORT/q/health/ready" >/dev/null 2>&1 && break
  kill -0 "$OPERATOR" 2>/dev/null || { tail -30 "$WORK/operator.log" >&2; die "the operator exited"; }
  sleep 0.2
done
rss() { awk -v k="$1:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$OPERATOR/status"; }
RSS_IDLE=$(rss VmRSS)
# The operator's CPU time (user + system, fields 14 and 15 of /proc/PID/stat, in clock ticks) over
# its run: from before the first LoraJob until the client has seen the last trial Job and Event.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$OPERATOR/stat"; }
# The API server's count of write requests by kind, from its own metrics (apiserver_request_total),
# before and after the operator's run: what the operator wrote per LoraJob (the Job controller's
# writes in that time are counted too, under their own kinds). A server-side apply counts as APPLY.
writes() { "$KUBECTL" get --raw /metrics | awk '/^apiserver_request_total\{/ && /verb="(POST|PATCH|PUT|APPLY)"/ {
  match($0, /group="[^"]*"/); g = substr($0, RSTART + 7, RLENGTH - 8)
  match($0, /[{,]resource="[^"]*"/); r = substr($0, RSTART + 11, RLENGTH - 12)
  s = ""; if (match($0, /subresource="[^"]+"/)) s = "/" substr($0, RSTART + 13, RLENGTH - 14)
  match($0, /verb="[^"]*"/); v = substr($0, RSTART + 6, RLENGTH - 7)
  n[v " " (g == "" ? "" : g "/") r s] += $NF } END { for (k in n) print k, n[k] }' | sort > "$1"; }
CPU_BEFORE=$(cpu)
writes "$WORK/writes-before.txt"
"${CLIENT[@]}" operator bench-op "$N" "$THREADS" | tee "$WORK/operator.out" >&2
CPU_RUN=$(awk -v a="$CPU_BEFORE" -v b="$(cpu)" 'BEGIN {printf "%.1f", b - a}')
writes "$WORK/writes-after.txt"
"${CLIENT[@]}" pods bench-op $((4 * N)) >&2

# Settled: no reconcile ran for 10 s (the started counter stood still).
started() { curl -sf "$METRICS" | awk '/^operator_sdk_reconciliations_started_total/ {s += $2} END {printf "%d", s}'; }
last=$(started); still=0
while [ "$still" -lt 10 ]; do
  sleep 1
  now=$(started)
  if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; last=$now; fi
done
RSS_LOADED=$(rss VmRSS)
RSS_PEAK=$(rss VmHWM)
curl -sf "$METRICS" >"$WORK/metrics.txt"
# The live set, which sizes the heap: what a full GC leaves.
jcmd "$OPERATOR" GC.run >/dev/null
LIVE_HEAP=$(jcmd "$OPERATOR" GC.heap_info | sed -n 's/.*total [0-9]*K, used \([0-9]*\)K.*/\1/p' | awk '{s += $1} END {printf "%.0f", s / 1024}')

RAW=$(result raw)
OP=$(result operator)
EVENTS=$(sed -n 's/^scale-bench-result: events //p' "$WORK/operator.out")
python3 - "$WORK/metrics.txt" "$N" "$RAW" "$OP" "$EVENTS" "$CPU_RUN" "$RSS_IDLE" "$RSS_LOADED" "$RSS_PEAK" "$LIVE_HEAP" "$JVM_OPTIONS" "$MALLOC_ARENA_MAX" "$WORK/writes-before.txt" "$WORK/writes-after.txt" <<'EOF'
import re, sys
path, n, raw, op, events, cpu, idle, loaded, peak, live, jvm, arenas, writes_before, writes_after = sys.argv[1:]
n, raw, op = int(n), float(raw), float(op)
buckets = {}
count = total = maximum = 0.0
for line in open(path):
    if not line.startswith("operator_sdk_controllers_execution_reconcile_seconds"):
        continue
    if 'controller="lorajob"' not in line:
        continue
    value = float(line.rsplit(" ", 1)[1])
    if "_bucket{" in line:
        le = re.search(r'le="([^"]+)"', line).group(1)
        le = float("inf") if le == "+Inf" else float(le)
        buckets[le] = buckets.get(le, 0.0) + value
    elif "_count{" in line:
        count += value
    elif "_sum{" in line:
        total += value
    elif "_max{" in line:
        maximum = max(maximum, value)

def quantile(q):
    # As Prometheus' histogram_quantile: linear within the bucket that holds rank q * count.
    edges = sorted(buckets)
    rank = q * buckets[edges[-1]]
    lower, below = 0.0, 0.0
    for le in edges:
        if buckets[le] >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / max(buckets[le] - below, 1e-12)
        lower, below = le, buckets[le]
    return lower

trial_jobs = 4 * n
print()
print(f"scale bench: {n} LoraJobs x 4 trials = {trial_jobs} trial Jobs (+ as many ConfigMaps), all unschedulable")
print(f"{'':44}{'time':>10}{'trial Jobs/s':>14}")
print(f"{'raw client (same objects, same threads)':44}{raw:>9.1f}s{trial_jobs / raw:>14.1f}")
print(f"{'operator (LoraJobs created, Jobs awaited)':44}{op:>9.1f}s{trial_jobs / op:>14.1f}")
print(f"operator / raw rate: {raw / op:.2f}   (goal >= 0.8)")
if events:
    with_event, last, after = events.split()
    print(f"operator Events: {with_event} of {n} LoraJobs have theirs; the last appeared after {float(last):.1f}s ({float(after):+.1f}s from the last trial Job)")
print(f"operator RSS: idle {idle} MiB, settled with {trial_jobs} trial Jobs and pods {loaded} MiB, peak {peak} MiB   (goal <= 300 MiB)")
print(f"   live heap after a full GC {live} MiB; JVM options (values.yaml jvmOptions): {jvm}")
print(f"   MALLOC_ARENA_MAX={arenas} (values.yaml mallocArenaMax)")
print(f"operator CPU time (user + system) over its run: {float(cpu):.1f} s ({float(cpu) / n * 1000:.1f} ms per LoraJob)")

def write_counts(path):
    counts = {}
    for line in open(path):
        verb, kind, value = line.split()
        counts[(verb, kind)] = counts.get((verb, kind), 0) + float(value)
    return counts

w0, w1 = write_counts(writes_before), write_counts(writes_after)
delta = {k: w1.get(k, 0) - w0.get(k, 0) for k in w1}
ours = [("POST", "loraops.io/lorajobs", "LoraJobs (the client)"), ("POST", "configmaps", "ConfigMaps"),
        ("POST", "batch/jobs", "Jobs (with the Job controller's: none)"),
        ("APPLY", "loraops.io/lorajobs/status", "status writes (server-side apply)"),
        ("PATCH", "loraops.io/lorajobs/status", "status patches"), ("PUT", "loraops.io/lorajobs/status", "status updates"),
        ("POST", "events", "core/v1 Events (the operator's, and the Job controller's for the pods it made meanwhile)"),
        ("POST", "pods", "pods (the Job controller's)")]
print("API server writes during the operator's run, per LoraJob: " + ", ".join(
    f"{delta.get((v, k), 0) / n:.2f} {label}" for v, k, label in ours if delta.get((v, k), 0)))
if count:
    print(f"lorajob reconcile latency over {int(count)} reconciles: "
          f"p50 {quantile(0.5) * 1000:.0f} ms, p95 {quantile(0.95) * 1000:.0f} ms, "
          f"p99 {quantile(0.99) * 1000:.0f} ms, mean {total / count * 1000:.0f} ms, max (last 2 min) {maximum * 1000:.0f} ms")
EOF
