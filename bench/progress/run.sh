#!/usr/bin/env bash
# Progress benchmark (not a test): what the live-progress channel (docs/progress.md) costs at N
# running trials, measured through a real API server, side by side with the channel off in the same
# run. One sweep of N trials (default 100; SHAPE=jobs: N single-trial LoraJobs), all running at
# once on a fake kubelet whose endpoint serves the trainers' logs (each prints one step line per
# second and an evaluation every 20 steps); the packaged operator, with the chart's JVM options, runs first with the channel off
# (poll interval 24 h: no log is read), then on (POLL_INTERVAL, default the production 10s).
# Prints per window: log reads/s and bytes/s (as the kubelet served them), LoraJob status writes/s,
# and the CPU-seconds per minute of the operator and of kube-apiserver.
#
#   bench/progress/run.sh [N]   (N = 4 x 1..32; WINDOW=60 seconds per measurement;
#                                POLL_INTERVAL=10s; SHAPE=jobs: N single-trial LoraJobs instead
#                                of one sweep; KEEP=1 keeps the work folder)
#
# Needs `make tools` and the packaged operator with its test classes
# (mvn -pl operator -am package -DskipTests); builds nothing. Run it under
# `flock -o /tmp/lora-heavy.lock` where the machine is shared.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-100}
WINDOW=${WINDOW:-60}
APP=$ROOT/operator/target/quarkus-app
TEST_CLASSES=$ROOT/operator/target/test-classes
KUBECTL=$ROOT/.tools/bin/kubectl
die() { echo "progress-bench: $*" >&2; exit 1; }
[ -f "$APP/quarkus-run.jar" ] || die "$APP/quarkus-run.jar is missing: mvn -pl operator -am package -DskipTests"
[ -f "$TEST_CLASSES/io/loraops/operator/it/FakeKubeletLogs.class" ] || die "the operator's test classes are missing: mvn -pl operator -am package -DskipTests"
[ -x "$KUBECTL" ] || die "$KUBECTL is missing: make tools"
[ "$(getconf CLK_TCK)" = 100 ] || die "ProgressBench assumes 100 clock ticks per second, this machine has $(getconf CLK_TCK)"
JVM_OPTIONS=$(sed -n 's/^jvmOptions: "\(.*\)"$/\1/p' "$ROOT/charts/lora-operator/values.yaml")
MALLOC_ARENA_MAX=$(sed -n 's/^mallocArenaMax: \([0-9]*\)$/\1/p' "$ROOT/charts/lora-operator/values.yaml")
[ -n "$JVM_OPTIONS" ] && [ -n "$MALLOC_ARENA_MAX" ] || die "no jvmOptions / mallocArenaMax in charts/lora-operator/values.yaml"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/progress-bench.XXXXXX")
cleanup() {
  "$ROOT/hack/control-plane.sh" down "$WORK/cp" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "progress-bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "progress-bench: $N trials; control plane in $WORK/cp" >&2
"$ROOT/hack/control-plane.sh" up "$WORK/cp" >"$WORK/control-plane.log" 2>&1 \
  || { cat "$WORK/control-plane.log" >&2; die "the control plane did not start"; }
export KUBECONFIG=$WORK/cp/kubeconfig
"$KUBECTL" apply -f "$ROOT/crds/" >/dev/null
"$KUBECTL" create namespace bench-progress >/dev/null
for _ in $(seq 100); do "$KUBECTL" -n bench-progress get serviceaccount default >/dev/null 2>&1 && break; sleep 0.2; done

# The fake kubelet keeps its TLS key under ./target, the operator logs go to ./operator-*.log.
mkdir -p "$WORK/target"
cd "$WORK"
OPERATOR_JAR=$APP/quarkus-run.jar JVM_OPTIONS=$JVM_OPTIONS MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX \
  java -Xmx512m -Dslf4j.provider=org.slf4j.helpers.NOP_FallbackServiceProvider \
  -cp "$TEST_CLASSES:$APP/app/*:$APP/lib/main/*" "$ROOT/bench/progress/ProgressBench.java" \
  bench-progress "$N" "$WINDOW" "$(cat "$WORK/cp/run/kube-apiserver.pid")"
