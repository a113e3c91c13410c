#!/usr/bin/env bash
# Builds the project's container images on this machine, with no registry, and imports them into
# the containerd of hack/node.sh:
#
#   localhost/lora/debian-jre17:bookworm   base: Debian bookworm + openjdk-17-jre-headless, made
#                                          by mmdebstrap from Debian's packages
#   localhost/lora/pause:3.10              the sandbox image, pause.c of the kubernetes module
#   localhost/lora/vllm-runtime:bookworm   Debian bookworm + the shared libraries and the C++
#                                          compiler that vLLM's CPU build and its Python need; the
#                                          build itself (6 GB,
#                                          `make vllm`) is mounted from the node (hostPath): the
#                                          published vLLM image is CUDA-only, and copying 6 GB into
#                                          an image on every machine would cost minutes and disk
#   loraops/lora-trainer:<ver>             trainer-image/Dockerfile       (FROM the base)
#   loraops/lora-operator:<ver>            operator/src/main/docker/Dockerfile.jvm (FROM the base)
#
# The Dockerfiles take their base image as the build argument BASE_IMAGE, so the same files
# build the published images elsewhere (on eclipse-temurin). buildah builds them daemonless
# (--pull=never: an image that is not local is an error, never a download).
#
# Usage:
#   hack/images.sh build               build what changed (needs `mvn install -DskipTests` first)
#   hack/images.sh import <dir>        build, then import into the node of the control plane <dir>
#   hack/images.sh list                the images and the inputs they were built from
#   hack/images.sh digest operator|trainer   the inputs of one (a pod annotation that rolls the
#                                      chart's Deployment when the image is rebuilt)
#
# An image is rebuilt only when its inputs change (a digest of its Dockerfile and build
# context, or of the package list for the base), and imported only when containerd lacks it.
#
# Environment:
#   LORA_IMAGES_CACHE   buildah storage and image archives (default: ~/.cache/lora-operator/images)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LORA_IMAGES_CACHE:-${HOME}/.cache/lora-operator/images}"
VERSION="$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' "${ROOT}/pom.xml" | head -n 1)"
TAG="${VERSION%-SNAPSHOT}"
BASE=localhost/lora/debian-jre17:bookworm
PAUSE=localhost/lora/pause:3.10
# The names the examples and the chart use (docker.io/ is what a bare name means): built here from
# the same Dockerfiles as the published images, so every manifest runs unchanged.
TRAINER="docker.io/loraops/lora-trainer:${TAG}"
OPERATOR="docker.io/loraops/lora-operator:${TAG}"
BASE_PACKAGES=openjdk-17-jre-headless,ca-certificates,passwd
VLLM_RUNTIME=localhost/lora/vllm-runtime:bookworm
# g++: vLLM's CPU build compiles kernels at run time (torch.compile's C++ backend), as its own
# CPU image does.
VLLM_RUNTIME_PACKAGES=ca-certificates,g++,libgomp1,libnuma1,libstdc++6,libffi8,libssl3,libsqlite3-0,libncursesw6,libbz2-1.0,liblzma5,zlib1g,libuuid1,libelf1
KUBERNETES_VERSION=1.36.3

die() { echo "images: $*" >&2; exit 1; }
log() { echo "images: $*"; }

bah() { buildah --root "${CACHE}/storage" --runroot "${CACHE}/run" --storage-driver overlay "$@"; }
have_image() { bah inspect --type image "$1" >/dev/null 2>&1; }

# digest_of PATH...: one digest of the files' names and contents (a build's inputs).
digest_of() {
  (cd "${ROOT}" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# built NAME INPUTS: whether NAME exists and was built from INPUTS (a stamp file per image).
stamp() { echo "${CACHE}/stamps/$(tr '/:' '__' <<<"$1")"; }
built() { have_image "$1" && [[ "$(cat "$(stamp "$1")" 2>/dev/null)" == "$2" ]]; }
mark_built() { mkdir -p "${CACHE}/stamps"; echo "$2" >"$(stamp "$1")"; }

# build_debian NAME PACKAGES: an image of Debian bookworm (minbase) with PACKAGES, by mmdebstrap
# from the host's own apt sources (the package mirror the machine already uses).
build_debian() {
  local name="$1" packages="$2" inputs="bookworm minbase $2"
  built "${name}" "${inputs}" && return 0
  command -v mmdebstrap >/dev/null || die "missing mmdebstrap (apt-get install mmdebstrap)"
  log "building ${name} (mmdebstrap: Debian bookworm + ${packages}) ..."
  local t0=${SECONDS} tar="${CACHE}/work/rootfs.tar" c mnt
  mkdir -p "${CACHE}/work"
  mmdebstrap --quiet --variant=minbase --include="${packages}" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "${tar}" >"${CACHE}/work/mmdebstrap.log" 2>&1 ||
    { tail -n 20 "${CACHE}/work/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
  c="$(bah from scratch)"
  mnt="$(bah mount "${c}")"
  tar -xf "${tar}" -C "${mnt}" --numeric-owner
  bah umount "${c}" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash "${c}"
  bah commit --quiet --rm "${c}" "${name}" >/dev/null
  rm -f "${tar}"
  mark_built "${name}" "${inputs}"
  log "built ${name} in $((SECONDS - t0))s"
}

build_pause() {
  local src
  src="$(ls -d "$(go env GOMODCACHE)/k8s.io/kubernetes@v${KUBERNETES_VERSION}/build/pause/linux" 2>/dev/null)" ||
    die "pause.c not in the Go module cache (run hack/install-tools.sh kubelet)"
  built "${PAUSE}" "${KUBERNETES_VERSION}" && return 0
  log "building ${PAUSE} (static pause from k8s.io/kubernetes v${KUBERNETES_VERSION}) ..."
  mkdir -p "${CACHE}/work"
  gcc -Os -Wall -static -DVERSION="v3.10-lora" -o "${CACHE}/work/pause" "${src}/pause.c"
  local c
  c="$(bah from scratch)"
  bah copy "${c}" "${CACHE}/work/pause" /pause >/dev/null
  bah config --entrypoint '["/pause"]' --user 65535:65535 "${c}"
  bah commit --quiet --rm "${c}" "${PAUSE}" >/dev/null
  mark_built "${PAUSE}" "${KUBERNETES_VERSION}"
}

# build_dockerfile NAME DOCKERFILE CONTEXT CONTEXT_INPUTS...
build_dockerfile() {
  local name="$1" dockerfile="$2" context="$3" inputs
  shift 3
  local f
  for f in "$@"; do [[ -e "${ROOT}/${f}" ]] || die "missing ${f}: run mvn install -DskipTests first"; done
  inputs="$(digest_of "${dockerfile}" "$@")-$(sha256sum <"$(stamp "${BASE}")" | cut -c1-8)"
  built "${name}" "${inputs}" && return 0
  log "building ${name} from ${dockerfile} ..."
  local t0=${SECONDS}
  bah build --quiet --pull=never --isolation chroot --layers=false \
    --build-arg "BASE_IMAGE=${BASE}" -f "${ROOT}/${dockerfile}" -t "${name}" "${ROOT}/${context}" \
    >"${CACHE}/work/build-$(tr '/:' '__' <<<"${name}").log" 2>&1 ||
    { tail -n 20 "${CACHE}/work/build-$(tr '/:' '__' <<<"${name}").log" >&2; die "building ${name} failed"; }
  mark_built "${name}" "${inputs}"
  log "built ${name} in $((SECONDS - t0))s"
}

cmd_build() {
  command -v buildah >/dev/null || die "missing buildah (apt-get install buildah)"
  mkdir -p "${CACHE}/work"
  build_debian "${BASE}" "${BASE_PACKAGES}"
  build_debian "${VLLM_RUNTIME}" "${VLLM_RUNTIME_PACKAGES}"
  build_pause
  build_dockerfile "${TRAINER}" trainer-image/Dockerfile trainer-image \
    trainer-image/target/lora-trainer.jar trainer-image/target/lib
  build_dockerfile "${OPERATOR}" operator/src/main/docker/Dockerfile.jvm operator \
    operator/target/quarkus-app
}

# Imports each image containerd lacks (or has from other inputs) as a docker archive, which
# keeps its full name.
cmd_import() {
  local node="$1/node" sock image archive want have
  sock="${node}/containerd/containerd.sock"
  [[ -S "${sock}" ]] || die "no containerd at ${sock} (hack/node.sh up $1)"
  mkdir -p "${node}/images"
  for image in "${PAUSE}" "${VLLM_RUNTIME}" "${TRAINER}" "${OPERATOR}"; do
    want="$(cat "$(stamp "${image}")")"
    have="$(cat "${node}/images/$(tr '/:' '__' <<<"${image}")" 2>/dev/null || true)"
    if [[ "${want}" == "${have}" ]] && ctr --address "${sock}" -n k8s.io images check "name==${image}" 2>/dev/null | grep -q .; then
      continue
    fi
    archive="${CACHE}/work/import.tar"
    rm -f "${archive}"
    bah push --quiet "${image}" "docker-archive:${archive}:${image}" >/dev/null
    ctr --address "${sock}" -n k8s.io images import --no-unpack=false "${archive}" >/dev/null ||
      die "ctr could not import ${image}"
    rm -f "${archive}"
    echo "${want}" >"${node}/images/$(tr '/:' '__' <<<"${image}")"
    log "imported ${image}"
  done
}

cmd_list() {
  local image
  for image in "${BASE}" "${VLLM_RUNTIME}" "${PAUSE}" "${TRAINER}" "${OPERATOR}"; do
    printf '%-44s %s\n' "${image}" "$(cat "$(stamp "${image}")" 2>/dev/null || echo '(not built)')"
  done
}

mkdir -p "${CACHE}"
exec 8>"${CACHE}/.lock"
flock 8
case "${1:-}" in
  build) cmd_build ;;
  import) [[ $# -eq 2 ]] || die "usage: $0 import <control-plane dir>"; cmd_build; cmd_import "$(cd "$2" && pwd)" ;;
  list) cmd_list ;;
  digest)
    case "${2:-}" in
      operator) cat "$(stamp "${OPERATOR}")" ;;
      trainer) cat "$(stamp "${TRAINER}")" ;;
      *) die "usage: $0 digest operator|trainer" ;;
    esac ;;
  *) die "usage: $0 build|import <dir>|list|digest operator|trainer" ;;
esac
