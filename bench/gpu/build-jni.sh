#!/usr/bin/env bash
# Builds DJL 0.35.1's PyTorch JNI (libdjl_torch.so) against the libtorch of an installed Python
# torch (any 2.x with C++17 headers), so the Java trainer runs on that torch instead of the
# libtorch 2.7.1 its jars carry.
#
#   bench/gpu/build-jni.sh <out.so>        (PYTHON=python3: the interpreter whose torch to use)
#
# Sources: jni/ (DJL v0.35.1's engines/pytorch/pytorch-native/src/main/native, its
# api/src/main/native/djl/utils.h and the JNI header javac -h writes for PyTorchLibrary.java; see
# jni/README.md). Compiled with the host's g++ (or $CXX) straight against torch/include and linked
# against torch/lib: no CMake, no CUDA toolkit, no network. The JNI calls only the C++ API of
# libtorch_cpu/libc10 (USE_CUDA is left off: it only adds a separate inference stream and
# emptyCache), so one build serves CPU and CUDA wheels of the same torch version; CUDA kernels
# come with libtorch_cuda.so, which libtorch.so loads.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: build-jni.sh <out.so>}
PYTHON=${PYTHON:-python3}
CXX=${CXX:-$(command -v g++ || command -v c++ || true)}
[ -n "$CXX" ] || { echo "build-jni: no C++ compiler (g++/c++); set CXX" >&2; exit 2; }

# torch's layout and ABI, from torch itself
read -r TORCH_DIR TORCH_VERSION CXX11_ABI < <("$PYTHON" -c '
import os, torch
print(os.path.dirname(torch.__file__), torch.__version__, int(torch.compiled_with_cxx11_abi()))')

# jni.h: the kit's runtime (jlink keeps include/), $JAVA_HOME, or the JDK of javac/java on PATH
JNI_INC=
for d in "$HERE/jre" "${JAVA_HOME:-/nonexistent}" \
         "$(dirname "$(dirname "$(readlink -f "$(command -v javac || command -v java || echo /x/x)")")")"; do
  if [ -f "$d/include/jni.h" ]; then JNI_INC=$d/include; break; fi
done
[ -n "$JNI_INC" ] || { echo "build-jni: no jni.h (set JAVA_HOME to a JDK)" >&2; exit 2; }

echo "build-jni: torch $TORCH_VERSION at $TORCH_DIR (cxx11 abi $CXX11_ABI), $($CXX --version | head -1)" >&2
OBJ=$(mktemp -d)
trap 'rm -rf "$OBJ"' EXIT
FLAGS=(-std=c++17 -O2 -fPIC -D_GLIBCXX_USE_CXX11_ABI="$CXX11_ABI" -w
       -I"$HERE/jni/include" -I"$HERE/jni/src" -I"$JNI_INC" -I"$JNI_INC/linux"
       -isystem "$TORCH_DIR/include" -isystem "$TORCH_DIR/include/torch/csrc/api/include")
JOBS=$(nproc)
pids=()
for src in "$HERE"/jni/src/*.cc; do
  "$CXX" "${FLAGS[@]}" -c "$src" -o "$OBJ/$(basename "$src" .cc).o" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
mkdir -p "$(dirname "$OUT")"
"$CXX" -shared -o "$OUT" "$OBJ"/*.o -L"$TORCH_DIR/lib" -Wl,-rpath,"$TORCH_DIR/lib" \
  -ltorch -ltorch_cpu -lc10
echo "build-jni: wrote $OUT ($(du -h "$OUT" | cut -f1))" >&2
