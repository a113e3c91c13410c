#!/usr/bin/env bash
# Serving benchmark (not a test): adapter switch latency, i.e. the time from a
# POST /v1/load_lora_adapter to the first completion answered with the new weights, for an alias
# re-pointed to a new version with load_inplace (how the operator moves an alias) and for a fresh
# adapter name, on `lora-trainer serve` and on real vLLM (its CPU build, `make vllm`) side by side:
# same model, same two adapters, same client (`lora-trainer bench-serve`, a small HTTP/1.1 client in
# the jar, so no process start-up is timed). Servers run one at a time, ours first.
#
#   bench/serve/run.sh [rounds]   (default 20; PRESET=tiny-llama-h32 RANK=8 TARGETS=q_proj,v_proj;
#                                  SERVERS="ours vllm")
#
# Needs the built trainer jar (make build) and, for vLLM, make vllm; builds nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-20}
PRESET=${PRESET:-tiny-llama-h32} # head size 32: the smallest vLLM's CPU kernels serve
RANK=${RANK:-8}
TARGETS=${TARGETS:-q_proj,v_proj}
SERVERS=${SERVERS:-ours vllm}
JAR=$ROOT/trainer-image/target/lora-trainer.jar
[ -f "$JAR" ] || { echo "serve-bench: $JAR is missing; run 'make build'" >&2; exit 2; }
export DJL_CACHE_DIR=${DJL_CACHE_DIR:-$ROOT/trainer-image/target/djl-cache}
export ENGINE_CACHE_DIR=$DJL_CACHE_DIR
JAVA=(java -Dai.djl.offline=true -Dai.djl.default_engine=PyTorch -jar "$JAR")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/serve-bench.XXXXXX")
SERVER=
stop_server() {
  [ -z "$SERVER" ] || { pkill -P "$SERVER" 2>/dev/null || true; kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
  SERVER=
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# The model folder's name is the served name, and gen-adapter declares it as the adapters' base.
MODEL=$WORK/$PRESET
echo "serve-bench: generating $PRESET and two rank-$RANK adapters ($TARGETS) in $WORK" >&2
"${JAVA[@]}" gen-model "$PRESET" "$MODEL" 1 >/dev/null
"${JAVA[@]}" gen-adapter "$MODEL" "$WORK/v1" "$RANK" "$TARGETS" 1 >/dev/null
"${JAVA[@]}" gen-adapter "$MODEL" "$WORK/v2" "$RANK" "$TARGETS" 2 >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench SERVER: starts it, waits for /health, runs the client, keeps its summary line.
bench() {
  local which=$1 port
  port=$(free_port)
  case "$which" in
    ours) "${JAVA[@]}" serve --model "$MODEL" --host 127.0.0.1 --port "$port" >"$WORK/$which.log" 2>&1 & ;;
    vllm) "$ROOT/hack/vllm" --model "$MODEL" --served-model-name "$PRESET" --enable-lora \
            --max-lora-rank 64 --max-loras 4 --dtype float32 --max-model-len 128 \
            --host 127.0.0.1 --port "$port" >"$WORK/$which.log" 2>&1 & ;;
  esac
  SERVER=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$SERVER" 2>/dev/null || { tail -20 "$WORK/$which.log" >&2; echo "serve-bench: $which exited" >&2; exit 1; }
    sleep 0.5
  done
  echo "serve-bench: $which on port $port; $ROUNDS switches of each kind" >&2
  "${JAVA[@]}" bench-serve "http://127.0.0.1:$port" "$WORK/v1" "$WORK/v2" "$ROUNDS" | tee "$WORK/$which.out" >&2
  stop_server
}

for s in $SERVERS; do bench "$s"; done

# Side by side: median / p95 in ms of each kind of switch, from the client's summary lines.
value() { sed -n "s/^serve-bench: $2: median \([0-9.]*\) ms p95 \([0-9.]*\) ms.*/\1 \2/p" "$WORK/$1.out"; }
echo
printf '%-34s' "adapter switch ($PRESET, r=$RANK)"
for s in $SERVERS; do printf '%22s' "$s median / p95"; done
echo
for kind in "load_inplace (alias re-pointed)" "fresh name" "switch latency"; do
  printf '%-34s' "$kind"
  for s in $SERVERS; do
    read -r median p95 <<<"$(value "$s" "$kind")"
    printf '%22s' "${median} / ${p95} ms"
  done
  echo
done
