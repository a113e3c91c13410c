# lora-operator: the commands a developer and CI run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
MVN ?= mvn -B -ntp

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## install pinned etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl, helm, kueue into .tools/bin
	hack/install-tools.sh

.PHONY: vllm
vllm: ## install vLLM's CPU build (pinned) into a cached virtualenv, linked as .tools/vllm
	hack/install-vllm.sh

.PHONY: build
build: ## compile and package every module, without tests
	$(MVN) install -DskipTests

.PHONY: crds
crds: ## regenerate crds/ and the chart's copy from the Java model (commit the result)
	$(MVN) -pl operator -am test -Dtest=CrdFilesTest -Dsurefire.failIfNoSpecifiedTests=false -Dcrds.update=true

.PHONY: fmt
fmt: ## format every Java file (google-java-format)
	$(MVN) spotless:apply

.PHONY: test
test: tools vllm ## every test tier: format, unit (*Test), integration (*IT, real Kueue included), end-to-end (*E2E, real vLLM included), Argo CD and Flux health, PEFT, chat-template and rank-similarity proofs
	$(MVN) spotless:check
	$(MVN) verify
	cd hack/health && GOTOOLCHAIN=local go test ./...
	hack/peft-proof/run.sh
	hack/peft-proof/chat-templates.sh
	hack/peft-proof/rank-similarity.sh

.PHONY: test-under-load
test-under-load: tools vllm ## the IT and E2E tiers 3 times in a row while a busy loop per core keeps every core busy (ROUNDS=3, TIERS="it e2e")
	hack/test-under-load.sh $(or $(ROUNDS),3)

.PHONY: chaos
chaos: tools ## fault injection with figures: the operator SIGKILLed across sweeps, publishes and rollouts, leader failover, an API server restart; trainers SIGKILLed and resumed (RUNS=20, SEED=n replays; not a test; about 25 minutes)
	$(MVN) -pl operator,trainer-image -am verify -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false \
	  -Dit.test=ChaosIT,TrainerKillIT -Dfailsafe.failIfNoSpecifiedTests=false \
	  -Dchaos.runs=$(or $(RUNS),20) -Dchaos.trainer-runs=$(or $(RUNS),20) $(if $(SEED),-Dchaos.seed=$(SEED))

.PHONY: bench-scale
bench-scale: tools ## N LoraJobs x 4 trials at once (N=1000): trial Job rate vs a raw client, operator RSS, reconcile latency (not a test; minutes)
	$(MVN) -q -pl operator -am package -DskipTests
	bench/scale/run.sh $(or $(N),1000)

.PHONY: bench-progress
bench-progress: tools ## the live-progress channel at N running trials (N=100) through a real API server, side by side with the channel off (not a test; minutes)
	$(MVN) -q -pl operator -am package -DskipTests
	bench/progress/run.sh $(or $(N),100)

.PHONY: bench
bench: ## trainer tokens/s vs Hugging Face PEFT side by side, and the server's adapter switch latency (not a test; minutes)
	$(MVN) -q install -DskipTests
	bench/trainer/run.sh
	bench/serve/run.sh

.PHONY: gpu-kit
gpu-kit: ## the GPU check (bench/gpu) as one tarball, target/lora-gpu-kit.tar.gz: trainer jar, DJL's JNI sources, a Java runtime, scripts; run ./run.sh on the GPU machine
	$(MVN) -q -pl trainer-image -am install -DskipTests
	bench/gpu/kit.sh

.PHONY: demo
demo: ## the whole loop locally: control plane, a kubelet + containerd node, the images, the operator from its chart; a rank sweep whose diverging trial stops early, published with its rank analysis and a merged export, served
	hack/demo.sh up

.PHONY: demo-qwen3
demo-qwen3: ## the chat variant: a tiny Qwen3-shaped model with the real Qwen3 tokenizer and chat template, served chat answers
	hack/demo.sh up qwen3

.PHONY: down
down: ## stop everything `make demo` started and undo its host changes (mounts, bridge, iptables rules, sysctls)
	hack/demo.sh down
