#!/usr/bin/env bash
# Rank-analysis proof (issue 14): the trainer's subspace similarity (what the publish Job's rank
# analysis computes) equals a numpy implementation of the LoRA paper's formula on synthetic
# adapters with identical, orthogonal, nested and random subspaces. Exits non-zero when any check
# fails.
#
#   hack/peft-proof/rank-similarity.sh
#
# Needs the built trainer (target/lora-trainer.jar) and run.sh's virtualenv (.venv/peft-proof).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/hack/peft-proof
VENV=$ROOT/.venv/peft-proof
JAR=$ROOT/trainer-image/target/lora-trainer.jar

if ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.installed" 2>/dev/null; then
  echo "rank-similarity: the reference virtualenv is missing; run hack/peft-proof/run.sh once" >&2
  exit 2
fi
if [ ! -f "$JAR" ]; then
  echo "rank-similarity: $JAR missing; build it with: mvn -B -pl trainer-image -am package -DskipTests" >&2
  exit 2
fi
export DJL_CACHE_DIR=${DJL_CACHE_DIR:-$ROOT/trainer-image/target/djl-cache}
exec "$VENV/bin/python" "$HERE/rank_similarity.py" --jar "$JAR" --work "$ROOT/trainer-image/target/rank-similarity"
