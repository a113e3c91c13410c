#!/usr/bin/env bash
# Assembles the GPU check kit (README.md beside this file) from a built trainer:
#
#   bench/gpu/kit.sh [out.tar.gz]        (default target/lora-gpu-kit.tar.gz; `make gpu-kit`)
#
# lora-gpu-kit/ holds run.sh, build-jni.sh, report.py, README.md, jni/ (DJL 0.35.1's JNI sources),
# peft_bench.py, trainer/ (lora-trainer.jar and its lib/ without DJL's libtorch 2.7.1 natives, its
# 2.7.1 JNI and the tokenizers' native jar: the kit runs on the target's torch and needs no
# tokenizer) and jre/ (a jlink'd Java runtime, jni.h included, since a GPU image need not have Java).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/target/lora-gpu-kit.tar.gz}
TARGET=$ROOT/trainer-image/target
[ -f "$TARGET/lora-trainer.jar" ] || { echo "kit: build first: mvn -B -pl trainer-image -am install -DskipTests" >&2; exit 2; }
JDK=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
[ -x "$JDK/bin/jlink" ] || { echo "kit: no jlink in $JDK (set JAVA_HOME to a JDK 17+)" >&2; exit 2; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
KIT=$STAGE/lora-gpu-kit
mkdir -p "$KIT/trainer/lib"
cp "$ROOT"/bench/gpu/{run.sh,build-jni.sh,report.py,README.md} "$ROOT/bench/trainer/peft_bench.py" "$KIT/"
cp -r "$ROOT/bench/gpu/jni" "$KIT/jni"
cp "$TARGET/lora-trainer.jar" "$KIT/trainer/"
for jar in "$TARGET"/lib/*.jar; do
  case $(basename "$jar") in
    pytorch-native-*|pytorch-jni-*|tokenizers-*) ;;
    *) cp "$jar" "$KIT/trainer/lib/" ;;
  esac
done
# The modules jdeps finds in the trainer and its libraries (less javassist's debugger ones).
"$JDK/bin/jlink" --add-modules java.base,java.compiler,java.desktop,java.instrument,java.logging,java.management,java.naming,java.net.http,java.xml,jdk.httpserver,jdk.management,jdk.unsupported \
  --strip-debug --no-man-pages --compress=2 --output "$KIT/jre"
mkdir -p "$(dirname "$OUT")"
tar -C "$STAGE" -czf "$OUT" lora-gpu-kit
echo "kit: $OUT ($(du -h "$OUT" | cut -f1); unpacked $(du -sh "$KIT" | cut -f1): jre $(du -sh "$KIT/jre" | cut -f1), trainer $(du -sh "$KIT/trainer" | cut -f1), jni sources $(du -sh "$KIT/jni" | cut -f1))"
