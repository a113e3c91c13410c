#!/usr/bin/env bash
# Serving benchmark (not a test): adapter switch latency of `lora-trainer serve`, i.e. the time
# from a POST /v1/load_lora_adapter to the first completion answered with the new weights, both
# for an alias re-pointed to a new version with load_inplace (how the operator moves an alias)
# and for a fresh adapter name. Generates a tiny model and two seeded adapters under a temp dir,
# starts the server on a free port, runs `lora-trainer bench-serve` against it (a small HTTP
# client in the jar, so no process start-up is timed) and prints median and p95.
#
#   bench/serve/run.sh [rounds]      (default 20; PRESET=tiny-llama RANK=8 TARGETS=q_proj,v_proj)
#
# Needs the built trainer jar (make build); builds nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-20}
PRESET=${PRESET:-tiny-llama}
RANK=${RANK:-8}
TARGETS=${TARGETS:-q_proj,v_proj}
JAR=$ROOT/trainer-image/target/lora-trainer.jar
[ -f "$JAR" ] || { echo "serve-bench: $JAR is missing; run 'make build'" >&2; exit 2; }
export DJL_CACHE_DIR=${DJL_CACHE_DIR:-$ROOT/trainer-image/target/djl-cache}
export ENGINE_CACHE_DIR=$DJL_CACHE_DIR
JAVA=(java -Dai.djl.offline=true -Dai.djl.default_engine=PyTorch -jar "$JAR")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/serve-bench.XXXXXX")
SERVER=
cleanup() {
  [ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true
  [ -z "$SERVER" ] || wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The model folder's name is the served name, and gen-adapter declares it as the adapters' base.
MODEL=$WORK/$PRESET
echo "serve-bench: generating $PRESET and two rank-$RANK adapters ($TARGETS) in $WORK" >&2
"${JAVA[@]}" gen-model "$PRESET" "$MODEL" 1 >/dev/null
"${JAVA[@]}" gen-adapter "$MODEL" "$WORK/v1" "$RANK" "$TARGETS" 1 >/dev/null
"${JAVA[@]}" gen-adapter "$MODEL" "$WORK/v2" "$RANK" "$TARGETS" 2 >/dev/null

"${JAVA[@]}" serve --model "$MODEL" --host 127.0.0.1 --port 0 >"$WORK/serve.log" 2>&1 &
SERVER=$!
PORT=
for _ in $(seq 240); do
  PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")
  [ -n "$PORT" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log" >&2; echo "serve-bench: server exited" >&2; exit 1; }
  sleep 0.5
done
[ -n "$PORT" ] || { cat "$WORK/serve.log" >&2; echo "serve-bench: server did not start" >&2; exit 1; }
echo "serve-bench: server on port $PORT; $ROUNDS switches of each kind" >&2
"${JAVA[@]}" bench-serve "http://127.0.0.1:$PORT" "$WORK/v1" "$WORK/v2" "$ROUNDS"
