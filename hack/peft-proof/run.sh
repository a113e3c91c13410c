#!/usr/bin/env bash
# PEFT reference proof for the Java trainer (issue 3). Exits non-zero when any check fails.
#
#   hack/peft-proof/run.sh
#
# Needs the built trainer (mvn -B -pl trainer-image -am install) and Python 3.10+. Installs the
# pinned reference stack into the git-ignored virtualenv .venv/peft-proof on first use (or when
# requirements.txt changes). No model is downloaded: the Java side generates seeded tiny models.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/hack/peft-proof
VENV=$ROOT/.venv/peft-proof
JAR=$ROOT/trainer-image/target/lora-trainer.jar

if ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.installed" 2>/dev/null; then
  echo "peft-proof: installing $(tr '\n' ' ' < "$HERE/requirements.txt" | sed 's/#[^ ]*//g' | tr -s ' ' | cut -c1-80)..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/requirements.installed"
fi
if [ ! -f "$JAR" ]; then
  echo "peft-proof: $JAR missing; build it with: mvn -B -pl trainer-image -am install -DskipTests" >&2
  exit 2
fi
export DJL_CACHE_DIR=${DJL_CACHE_DIR:-$ROOT/trainer-image/target/djl-cache}
exec "$VENV/bin/python" "$HERE/proof.py" --jar "$JAR" --work "$ROOT/trainer-image/target/peft-proof" "$@"
