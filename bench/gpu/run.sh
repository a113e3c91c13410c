#!/usr/bin/env bash
# The GPU check of issue 13 in one command: LoRA training steps of a Llama-3-shaped model in the
# Java trainer (DJL 0.35.1 on this machine's own torch) and in PEFT, one after the other, and a
# table of tokens/s, MFU and peak GPU memory side by side. Runs from the unpacked kit that
# `make gpu-kit` builds (see README.md); needs python3 with torch, transformers and peft, a C++
# compiler for the first run, and no network.
#
#   ./run.sh [--preset llama-1b] [--batch 4] [--seq 2048] [--steps 10] [--rank 16]
#            [--targets all-linear] [--precision bf16|fp16|fp32] [--only java|peft]
#
# PYTHON (python3): the interpreter whose torch both sides use. JAVA: the kit's jre/bin/java, else
# java on PATH. WORK (./work): JNI build, DJL cache, generated model, logs. PEAK_TFLOPS overrides
# the device's peak in the MFU. BENCH_CHECKPOINTING=1 runs both sides with gradient checkpointing
# (transformers' use_reentrant=False on PEFT's side). BENCH_PROFILE=1 writes torch.profiler's table of
# PEFT's timed steps (GPU kernel time per step, kernels by name) to $WORK/peft-profile.txt. SIDE_TIMEOUT (seconds, 0 = none) stops a side that runs longer, so
# a slow side on a lent machine cannot use up its time before the table prints. On a machine without a GPU both sides run on the CPU (the kit's
# own proof: --preset tiny-llama or llama-100m).
set -euo pipefail
KIT=$(cd "$(dirname "$0")" && pwd)
PRESET=llama-1b BATCH=4 SEQ=2048 STEPS=10 RANK=16 TARGETS=all-linear PRECISION=bf16 ONLY=
while [ $# -gt 0 ]; do
  case $1 in
    --preset) PRESET=$2 ;; --batch) BATCH=$2 ;; --seq) SEQ=$2 ;; --steps) STEPS=$2 ;;
    --rank) RANK=$2 ;; --targets) TARGETS=$2 ;; --precision) PRECISION=$2 ;; --only) ONLY=$2 ;;
    *) echo "run.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
case $PRECISION in bf16|fp16|fp32) ;; *) echo "run.sh: --precision is bf16, fp16 or fp32" >&2; exit 2 ;; esac
PYTHON=${PYTHON:-python3}
if [ -z "${JAVA:-}" ]; then
  if [ -x "$KIT/jre/bin/java" ]; then JAVA=$KIT/jre/bin/java; else JAVA=java; fi
fi
WORK=${WORK:-$KIT/work}
mkdir -p "$WORK"
DJL_VERSION=0.35.1 # the JNI sources in jni/ are DJL's at this tag, and so are the jars in trainer/lib
[ -f "$KIT/trainer/lib/api-$DJL_VERSION.jar" ] || { echo "run.sh: trainer/lib has no DJL $DJL_VERSION" >&2; exit 2; }

# What DJL must be told about this torch: its lib folder, version, flavour, and where the CUDA
# runtime it loaded lives (DJL counts GPUs through its own JNA binding of libcudart, which finds a
# versioned libcudart.so.N only in jna.library.path).
eval "$("$PYTHON" - <<'PY'
import os, shlex, torch
cudart = ""
for line in open("/proc/self/maps"):  # libtorch_cuda loads libcudart at import
    if "/libcudart.so" in line:
        cudart = os.path.dirname(line.split()[-1])
        break
gpu = torch.cuda.is_available()
facts = {
    "TORCH_LIB": os.path.join(os.path.dirname(torch.__file__), "lib"),
    "TORCH_FULL_VERSION": torch.__version__,
    "TORCH_VERSION": torch.__version__.split("+")[0],
    # DJL loads the CUDA libraries of torch/lib (libcaffe2_nvrtc needs the driver's libcuda)
    # only for a cu* flavour: a CUDA wheel on a machine without a GPU runs as "cpu"
    "TORCH_FLAVOR": "cu" + torch.version.cuda.replace(".", "") if gpu else "cpu",
    "CUDART_DIR": cudart if gpu else "",
    "DEVICE": "cuda" if gpu else "cpu",
    "DEVICE_NAME": torch.cuda.get_device_name(0) if gpu else "cpu",
}
print("\n".join(f"{k}={shlex.quote(v)}" for k, v in facts.items()))
PY
)"
echo "run.sh: torch $TORCH_FULL_VERSION ($TORCH_LIB), device $DEVICE_NAME, java $("$JAVA" -version 2>&1 | head -1)" >&2

# DJL's JNI for this torch: built once per torch version, then put where DJL looks first for a
# PYTORCH_LIBRARY_PATH libtorch: <cache>/pytorch/<version>-<flavor>-<classifier>/<djl>-libdjl_torch.so
JNI=$WORK/jni/$TORCH_FULL_VERSION/libdjl_torch.so
[ -f "$JNI" ] || PYTHON=$PYTHON "$KIT/build-jni.sh" "$JNI"
CACHE=$WORK/djl-cache
mkdir -p "$CACHE/pytorch/$TORCH_VERSION-$TORCH_FLAVOR-linux-x86_64"
cp "$JNI" "$CACHE/pytorch/$TORCH_VERSION-$TORCH_FLAVOR-linux-x86_64/$DJL_VERSION-libdjl_torch.so"
JAVA_RUN=(env DJL_CACHE_DIR="$CACHE" ENGINE_CACHE_DIR="$CACHE" PYTORCH_LIBRARY_PATH="$TORCH_LIB"
          PYTORCH_VERSION="$TORCH_VERSION" PYTORCH_FLAVOR="$TORCH_FLAVOR"
          "$JAVA" -Dai.djl.offline=true -Dai.djl.default_engine=PyTorch
          ${CUDART_DIR:+-Djna.library.path="$CUDART_DIR"} -jar "$KIT/trainer/lora-trainer.jar")

MODEL=$WORK/models/$PRESET
if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "run.sh: writing the random-init $PRESET model to $MODEL ..." >&2
  "${JAVA_RUN[@]}" gen-model "$PRESET" "$MODEL" 1 >/dev/null 2>"$WORK/gen-model.log" \
    || { cat "$WORK/gen-model.log" >&2; exit 1; }
fi

side() { # name, log, command...: the command's last stdout line, or {"error": ...} from its log
  local name=$1 log=$2
  shift 2
  echo "run.sh: $name side: batch $BATCH x $SEQ, r=$RANK on $TARGETS, $PRECISION, $STEPS timed steps (log $log) ..." >&2
  local t0=$SECONDS
  if timeout "${SIDE_TIMEOUT:-0}" "$@" >"$log.out" 2>"$log"; then
    tail -1 "$log.out" >"$WORK/$name.json"
  else
    "$PYTHON" -c 'import json, sys; print(json.dumps({"error": " | ".join(sys.argv[1:])}))' \
      "exit $?" "$(grep -v '^\s*at ' "$log" | tail -3)" >"$WORK/$name.json"
  fi
  echo "run.sh: $name side done in $((SECONDS - t0)) s" >&2
}
rm -f "$WORK/java.json" "$WORK/peft.json"
if [ "$ONLY" != peft ]; then
  side java "$WORK/java.log" env BENCH_PRECISION="$PRECISION" "${JAVA_RUN[@]}" \
    bench "$MODEL" "$BATCH" "$SEQ" "$STEPS" "$TARGETS" "$RANK"
fi
if [ "$ONLY" != java ]; then
  PEFT_ARGS=(--device "$DEVICE")
  PEFT_ARGS+=(--precision "$PRECISION")
  [ "${BENCH_CHECKPOINTING:-}" = 1 ] && PEFT_ARGS+=(--gradient-checkpointing)
  [ "${BENCH_PROFILE:-}" = 1 ] && PEFT_ARGS+=(--profile "$WORK/peft-profile.txt")
  side peft "$WORK/peft.log" "$PYTHON" "$KIT/peft_bench.py" \
    "$MODEL" "$BATCH" "$SEQ" "$STEPS" "$TARGETS" "$RANK" "${PEFT_ARGS[@]}"
fi
echo
"$PYTHON" "$KIT/report.py" "$MODEL" "$BATCH" "$SEQ" "$RANK" "$TARGETS" "$DEVICE_NAME" \
  "$WORK/java.json" "$WORK/peft.json"
