#!/usr/bin/env bash
# Trainer benchmark (not a test): tokens/s of a LoRA training step, Java trainer (DJL PyTorch)
# vs Hugging Face PEFT (PyTorch eager, SDPA attention), side by side on the same machine, same
# shapes, threads, precision, batch, sequence length, rank and target modules, on random-init models of
# GPT-2-small shape (124M) and a ~100M LLaMA shape. Prints a table with the ratio and peak RSS.
#
#   bench/trainer/run.sh [steps] [batch] [seq]      (defaults 4 4 512; ROUNDS=2 THREADS=nproc)
#
# On a shared machine single runs are noisy: each round runs Java then PEFT, and each side is
# scored by its best round's median step time (tokens/s = batch x seq / median step).
#
# Needs the built trainer jar and the reference venv of hack/peft-proof (created on first use).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STEPS=${1:-4}
BATCH=${2:-4}
SEQ=${3:-512}
RANK=8
THREADS=${THREADS:-$(nproc)}
JAR=$ROOT/trainer-image/target/lora-trainer.jar
VENV=$ROOT/.venv/peft-proof
WORK=$ROOT/trainer-image/target/bench
export DJL_CACHE_DIR=${DJL_CACHE_DIR:-$ROOT/trainer-image/target/djl-cache}
[ -f "$JAR" ] || { echo "build first: mvn -B -pl trainer-image -am install -DskipTests" >&2; exit 2; }
if ! cmp -s "$ROOT/hack/peft-proof/requirements.txt" "$VENV/requirements.installed" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/hack/peft-proof/requirements.txt"
  cp "$ROOT/hack/peft-proof/requirements.txt" "$VENV/requirements.installed"
fi
JAVA=(java -Dai.djl.offline=true -Dai.djl.default_engine=PyTorch -Dai.djl.pytorch.num_threads="$THREADS"
      -Dai.djl.pytorch.num_interop_threads=1 -jar "$JAR")
mkdir -p "$WORK"
ROUNDS=${ROUNDS:-2}
declare -a ROWS
# The third row is SFT-shaped: the first half of every sequence is prompt (no loss), as in
# instruction data; PEFT computes the LM head there anyway, the Java trainer does not.
# The fourth has examples of mixed lengths, drawn as in instruction sets (log-normal, median a
# quarter of the sequence length): PEFT pads each batch of examples to its longest (the standard
# dynamic-padding collator), the Java trainer packs them into full rows (training.packing);
# tokens/s counts real tokens only on both sides.
LENGTHS=$WORK/lengths-$SEQ.txt
python3 - "$SEQ" > "$LENGTHS" <<'PY'
import random, sys
seq = int(sys.argv[1])
rng = random.Random(7)
print(",".join(str(min(seq, max(8, round(rng.lognormvariate(0, 0.7) * seq / 4)))) for _ in range(4096)))
PY
# The fifth recomputes blocks in the backward pass on both sides (training.gradientCheckpointing;
# transformers' gradient_checkpointing_enable): less activation memory for more compute.
# The /bf16 rows train in mixed precision on both sides (training.precision bf16; PEFT with the
# model in bf16, float32 adapters and torch.autocast bf16, its standard recipe); they need a CPU
# with bf16 instructions (avx512_bf16 or amx_bf16) to mean anything, and are skipped without.
# ONLY="label ..." runs only the rows of those labels.
BF16_ROWS=()
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  BF16_ROWS=("gpt2-small c_attn bf16" "llama-100m q_proj,v_proj bf16")
else
  echo "bench: this CPU has no bf16 instructions; skipping the /bf16 rows" >&2
fi
for spec in "gpt2-small c_attn 0" "llama-100m q_proj,v_proj 0" "llama-100m q_proj,v_proj 0.5" \
            "llama-100m q_proj,v_proj varlen" "llama-100m q_proj,v_proj ckpt" "${BF16_ROWS[@]}"; do
  set -- $spec
  preset=$1 targets=$2 prompt=$3
  label=$preset
  java_extra=() peft_extra=() java_env=()
  if [ "$prompt" = bf16 ]; then
    label="$preset/bf16" prompt=0
    java_env=(BENCH_PRECISION=bf16) peft_extra=(--precision bf16)
  elif [ "$prompt" = ckpt ]; then
    label="$preset/ckpt" prompt=0
    java_env=(BENCH_CHECKPOINTING=1) peft_extra=(--gradient-checkpointing)
  elif [ "$prompt" = varlen ]; then
    label="$preset/varlen" prompt=0
    java_extra=("$LENGTHS") peft_extra=(--lengths "$LENGTHS")
  elif [ "$prompt" != 0 ]; then
    label="$preset/sft$(python3 -c "print(int($prompt*100))")"
  fi
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $label "* ]]; then continue; fi
  [ -f "$WORK/$preset/model.safetensors" ] || "${JAVA[@]}" gen-model "$preset" "$WORK/$preset" 1 >/dev/null
  for round in $(seq "$ROUNDS"); do
    echo "bench: $label round $round ($targets, r=$RANK, batch $BATCH x $SEQ, $THREADS threads, $STEPS timed steps)..." >&2
    j=$(env "${java_env[@]}" OMP_NUM_THREADS=$THREADS "${JAVA[@]}" bench "$WORK/$preset" "$BATCH" "$SEQ" "$STEPS" "$targets" "$RANK" "$prompt" "${java_extra[@]}" | tail -1)
    p=$(OMP_NUM_THREADS=$THREADS "$VENV/bin/python" "$ROOT/bench/trainer/peft_bench.py" "$WORK/$preset" "$BATCH" "$SEQ" "$STEPS" "$targets" "$RANK" --threads "$THREADS" --prompt-fraction "$prompt" "${peft_extra[@]}" | tail -1)
    ROWS+=("$label|$j|$p")
  done
done
python3 - "$BATCH" "$SEQ" "${ROWS[@]}" <<'PY'
import json, sys
tokens = int(sys.argv[1]) * int(sys.argv[2])

def rate(r):
    # Mixed-length rows count real tokens (packed vs padded differ in how many a step holds).
    return r["real_tokens_per_s"] if "real_tokens_per_s" in r else tokens / r["step_s_median"]

best = {}
for row in sys.argv[3:]:
    name, j, p = row.split("|")
    for impl, r in (("java", json.loads(j)), ("peft", json.loads(p))):
        b = best.setdefault((name, impl), r)
        if rate(r) > rate(b):
            best[(name, impl)] = r
        print(f"  {name:<16} {impl}: median step {r['step_s_median']:.3f} s, {rate(r):.1f} tok/s, {r['cpu_s_per_step']:.2f} CPU s/step", file=sys.stderr)
print(f"{'model':<16} {'java tok/s':>11} {'peft tok/s':>11} {'java/peft':>10} {'cpu-s ratio':>12} {'java RSS MB':>12} {'peft RSS MB':>12} {'RSS ratio':>10}")
for name in dict.fromkeys(k[0] for k in best):
    j, p = best[(name, "java")], best[(name, "peft")]
    jt, pt = rate(j), rate(p)
    jc = min(json.loads(r.split("|")[1])["cpu_s_per_step"] for r in sys.argv[3:] if r.split("|")[0] == name)
    pc = min(json.loads(r.split("|")[2])["cpu_s_per_step"] for r in sys.argv[3:] if r.split("|")[0] == name)
    # steps of a mixed-length row hold different token counts: CPU per step does not compare there
    cpu = "-" if "real_tokens_per_s" in j else f"{pc / jc:.2f}"
    print(f"{name:<16} {jt:>11.1f} {pt:>11.1f} {jt / pt:>10.2f} {cpu:>12} {j['peak_rss_mb']:>12.0f} {p['peak_rss_mb']:>12.0f} {j['peak_rss_mb'] / p['peak_rss_mb']:>10.2f}")
print("java/peft: tokens/s ratio of the best rounds (real tokens on /varlen rows: Java packed, PEFT padded per batch);"
      " cpu-s ratio: PEFT CPU seconds per step / Java's (>1: Java does less work);"
      " RSS ratio: Java peak RSS / PEFT's (goals: java/peft >= 1.2, RSS ratio <= 0.7)")
PY
