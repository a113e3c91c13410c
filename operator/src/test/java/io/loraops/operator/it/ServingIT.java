package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterSpec;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import io.loraops.operator.api.v1alpha1.SecretKeyRef;
import io.loraops.operator.api.v1alpha1.Serving;
import io.loraops.operator.api.v1alpha1.ServingTarget;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.publish.VersionRecords;
import io.loraops.operator.rollout.RestartTemplate;
import io.loraops.operator.status.Conditions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.assertj.core.api.ThrowingConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Rollouts against a real API server and the real Deployment controller, with stand-ins for vLLM
 * servers in the pods: pin, canary steps, automatic rollback, new pods, and the restart loader.
 */
class ServingIT {
  static final String ADAPTER = "support-bot";

  KubernetesClient client = ControlPlane.client();
  String namespace;
  OperatorHarness operator;
  ServingPods pods;
  int port = ThreadLocalRandom.current().nextInt(20_000, 40_000);

  @BeforeEach
  void start() {
    namespace = ControlPlane.newNamespace("serving");
    operator = OperatorHarness.start(client, namespace);
    pods = new ServingPods(client, namespace, port);
  }

  @AfterEach
  void stop() {
    operator.close();
    pods.close();
  }

  @Test
  void pinnedVersionsRollOutWithCanaryStepsAndAFailingProbeRollsBack() {
    publish(1, 2.0);
    publish(2, 1.5);
    deployment("vllm", 2);
    client.resource(adapter(1, Serving.Loader.hotLoad, List.of("1"), 3)).create();

    // v1 pinned -> served by both pods under its immutable name and the alias.
    awaitServing(1);
    awaitEveryPod(
        2,
        s ->
            assertThat(s.adapters)
                .containsEntry("support-bot-v1", path(1))
                .containsEntry("support-bot", path(1))
                .hasSize(2));

    // v2 pinned (the GitOps bump) -> one pod first, a pause, then all; v1 retired.
    pin(2);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              LoraAdapter a = get();
              assertThat(a.getStatus().getRollout().getPhase()).isEqualTo("Progressing");
              assertThat(a.getStatus().getTargets().get(0).getPodsUpdated()).isEqualTo(1);
              assertThat(Conditions.isTrue(a.getStatus().getConditions(), "Progressing")).isTrue();
              assertThat(aliasPaths()).containsExactlyInAnyOrder(path(1), path(2));
            });
    awaitServing(2);
    pods.live()
        .values()
        .forEach(
            s ->
                assertThat(s.adapters)
                    .containsEntry("support-bot-v2", path(2))
                    .containsEntry("support-bot", path(2))
                    .doesNotContainKey("support-bot-v1"));
    // Nothing was loaded twice: each name went onto each pod once (the alias once per version).
    pods.live()
        .values()
        .forEach(
            s ->
                assertThat(s.loads)
                    .containsExactly(
                        "support-bot-v1=" + path(1),
                        "support-bot=" + path(1),
                        "support-bot-v2=" + path(2),
                        "support-bot=" + path(2)));

    // v3's completions fail -> rolled back to v2 everywhere, Degraded with the reason.
    publish(3, 1.2);
    pods.brokenPaths.add(path(3));
    pin(3);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () ->
                assertThat(RolloutAssertions.assertRolledBack(get(), 2))
                    .contains("non-finite logits"));
    pods.live()
        .values()
        .forEach(
            s ->
                assertThat(s.adapters)
                    .containsEntry("support-bot", path(2))
                    .doesNotContainKey("support-bot-v3"));
    await() // Events are written after the reconcile that records them (EventRecorder)
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(reasons())
                    .contains("RolloutStarted", "RolloutStep", "RolloutSucceeded", "RolledBack"));

    // The bump is reverted in git (pin the serving version again): healthy, v2 still serving.
    pin(2);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              LoraAdapter a = get();
              RolloutAssertions.assertServing(a, 2);
              assertThat(Conditions.isTrue(a.getStatus().getConditions(), "Degraded")).isFalse();
              assertThat(a.getStatus().getPhase()).isEqualTo("Serving");
            });

    // A replacement pod gets the serving version.
    String victim = pods.live().keySet().iterator().next();
    client.pods().inNamespace(namespace).withName(victim).delete();
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              assertThat(pods.live()).hasSize(2).doesNotContainKey(victim);
              pods.live()
                  .values()
                  .forEach(s -> assertThat(s.adapters).containsEntry("support-bot", path(2)));
            });
  }

  @Test
  void aVersionTheServerRefusesIsRolledBackBeforeAnyPodServesIt() {
    publish(1, 2.0);
    deployment("vllm", 1);
    LoraAdapter adapter = adapter(1, Serving.Loader.hotLoad, List.of(), 0);
    adapter.getSpec().getServing().setPort(port + 1); // nothing listens there
    client.resource(adapter).create();
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              RolloutAssertions.assertRolledBack(get(), null);
              assertThat(
                      Conditions.find(get().getStatus().getConditions(), "Ready").get().getReason())
                  .isEqualTo("NotServed");
            });
  }

  @Test
  void aSelectorThatMatchesNoDeploymentIsAServingProblem() {
    publish(1, 2.0);
    LoraAdapter adapter = adapter(1, Serving.Loader.hotLoad, List.of(), 0);
    ServingTarget bySelector = new ServingTarget();
    bySelector.setSelector(
        new io.fabric8.kubernetes.api.model.LabelSelectorBuilder()
            .withMatchLabels(Map.of("serves", "support-bot"))
            .build());
    adapter.getSpec().getServing().setTargets(List.of(bySelector));
    client.resource(adapter).create();
    awaitServingProblem(
        "selector serves=support-bot matches no Deployment in namespace " + namespace);
  }

  @Test
  void anApiKeyFromASecretIsSentToServersStartedWithOne() {
    pods.apiKey = "s3cret";
    publish(1, 2.0);
    deployment("vllm", 2);
    LoraAdapter adapter = adapter(1, Serving.Loader.hotLoad, List.of(), 0);
    SecretKeyRef ref = new SecretKeyRef();
    ref.setName("vllm-api-key");
    adapter.getSpec().getServing().setApiKeySecretRef(ref);
    client.resource(adapter).create();
    // No Secret yet: said plainly, and no server is called without the key.
    awaitServingProblem(
        "secret vllm-api-key (spec.serving.apiKeySecretRef) not found in namespace " + namespace);
    assertThat(pods.live().values()).allSatisfy(s -> assertThat(s.unauthorized).hasValue(0));
    // The key as `kubectl create secret --from-file` leaves it, with a trailing newline.
    client
        .resource(
            new SecretBuilder()
                .withNewMetadata()
                .withName("vllm-api-key")
                .withNamespace(namespace)
                .endMetadata()
                .withStringData(Map.of("api-key", "s3cret\n"))
                .build())
        .create();
    awaitServing(1);
    awaitEveryPod(2, s -> assertThat(s.adapters).containsEntry("support-bot", path(1)));
    assertThat(pods.live().values()).allSatisfy(s -> assertThat(s.unauthorized).hasValue(0));
  }

  @Test
  void aDroppedTargetAndADeletedAdapterAreUnloadedFromTheServers() {
    publish(1, 2.0);
    deployment("vllm", 1);
    deployment("other", 2);
    client.resource(adapter(1, Serving.Loader.hotLoad, List.of(), 0)).create();
    awaitServing(1);
    assertThat(adaptersOn("vllm")).singleElement().asString().contains("support-bot");

    // The target moves to "other" (a GitOps edit): vllm's server forgets support-bot.
    edit(a -> a.getSpec().getServing().getTargets().get(0).setDeployment("other"));
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              assertThat(adaptersOn("vllm")).containsExactly("{}");
              assertThat(adaptersOn("other"))
                  .hasSize(2)
                  .allSatisfy(a -> assertThat(a).contains("support-bot-v1=" + path(1)));
              assertThat(get().getStatus().getTargets())
                  .extracting(t -> t.getDeployment())
                  .containsExactly("other");
            });

    // Deleted (an Argo CD prune): unloaded from every pod before the LoraAdapter goes.
    client.resources(LoraAdapter.class).inNamespace(namespace).withName(ADAPTER).delete();
    await().atMost(Duration.ofSeconds(30)).until(() -> get() == null);
    assertThat(adaptersOn("other")).containsExactly("{}", "{}");
  }

  /** What each live pod of a Deployment serves, as sorted "{name=path, ...}" strings. */
  private List<String> adaptersOn(String deployment) {
    return pods.live().entrySet().stream()
        .filter(e -> e.getKey().startsWith(deployment + "-"))
        .map(e -> new java.util.TreeMap<>(e.getValue().adapters).toString())
        .toList();
  }

  @Test
  void aVllmWithoutLoadInplaceStillHasItsAliasMoved() {
    pods.loadInplace = false;
    publish(1, 2.0);
    publish(2, 1.5);
    deployment("vllm", 1);
    client.resource(adapter(1, Serving.Loader.hotLoad, List.of(), 0)).create();
    awaitServing(1);
    pin(2);
    awaitServing(2);
    assertThat(pods.live().values())
        .singleElement()
        .satisfies(
            s ->
                assertThat(s.adapters)
                    .containsEntry("support-bot", path(2))
                    .containsEntry("support-bot-v2", path(2))
                    .doesNotContainKey("support-bot-v1"));
  }

  @Test
  void restartLoaderWritesTheVersionIntoThePodTemplate() {
    publish(1, 2.0);
    publish(2, 1.0);
    deployment("vllm", 2);
    client.resource(adapter(1, Serving.Loader.restart, List.of(), 0)).create();
    awaitServing(1);
    pin(2);
    awaitServing(2);
    Deployment d = client.apps().deployments().inNamespace(namespace).withName("vllm").get();
    var template = d.getSpec().getTemplate();
    assertThat(template.getMetadata().getAnnotations())
        .containsEntry(RestartTemplate.annotation(ADAPTER), "2");
    assertThat(template.getSpec().getContainers().get(0).getEnv())
        .extracting(e -> e.getName() + "=" + e.getValue())
        .contains(
            "LORA_ADAPTER_SUPPORT_BOT_NAME=support-bot-v2",
            "LORA_ADAPTER_SUPPORT_BOT_PATH=" + path(2));
    // Every live pod is a new one started with version 2.
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () ->
                assertThat(pods.live().values())
                    .isNotEmpty()
                    .allSatisfy(s -> assertThat(s.adapters).containsEntry("support-bot", path(2))));
  }

  /**
   * Waits until {@code count} pods run and each server passes {@code check}. The rollout's last
   * step completes over the pods ready at that moment; a pod that became ready just after is given
   * the version a moment later.
   */
  /**
   * A server that never answers holds up only its own adapter. The operator runs with a single
   * reconcile thread, so a reconcile that waited on a server would hold up every other adapter:
   * here six adapters roll out while the call to the wedged server is still waiting for its
   * 60-second timeout.
   */
  @Test
  void aServerThatNeverAnswersHoldsUpNoOtherAdapter() {
    operator.close();
    operator = OperatorHarness.start(client, namespace, 1);
    deployment("wedged", 1, Map.of(ServingPods.WEDGED, "true"));
    deployment("vllm", 2);
    publish("wedged-bot", 1, 2.0);
    client
        .resource(adapter("wedged-bot", "wedged", 1, Serving.Loader.hotLoad, List.of(), 0))
        .create();
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> pods.live().values().stream().anyMatch(s -> s.hungSince != null));
    Instant hungSince =
        pods.live().values().stream()
            .map(s -> s.hungSince)
            .filter(java.util.Objects::nonNull)
            .findFirst()
            .orElseThrow();

    List<String> others = List.of("bot-a", "bot-b", "bot-c", "bot-d", "bot-e", "bot-f");
    for (String name : others) {
      publish(name, 1, 2.0);
      client.resource(adapter(name, "vllm", 1, Serving.Loader.hotLoad, List.of(), 0)).create();
    }
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(45))
        .untilAsserted(() -> others.forEach(name -> RolloutAssertions.assertServing(get(name), 1)));
    assertThat(Duration.between(hungSince, Instant.now()))
        .as("the others served while the wedged server's load call was still unanswered")
        .isLessThan(HUNG_CALL_TIMEOUT);
    assertThat(get("wedged-bot").getStatus().getServingVersion()).isNull();
  }

  /** How long the operator waits for a load call's answer. */
  static final Duration HUNG_CALL_TIMEOUT = Duration.ofSeconds(60);

  private void awaitEveryPod(int count, ThrowingConsumer<VllmStandIn> check) {
    await()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(() -> assertThat(pods.live().values()).hasSize(count).allSatisfy(check));
  }

  private void awaitServingProblem(String message) {
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              var degraded =
                  Conditions.find(get().getStatus().getConditions(), "Degraded").orElseThrow();
              assertThat(degraded.getReason()).isEqualTo("ServingProblem");
              assertThat(degraded.getMessage()).isEqualTo(message);
            });
  }

  private void awaitServing(int version) {
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(45))
        .untilAsserted(() -> RolloutAssertions.assertServing(get(), version));
  }

  private List<String> aliasPaths() {
    List<String> paths = new ArrayList<>();
    pods.live().values().forEach(s -> paths.add(s.adapters.get("support-bot")));
    return paths;
  }

  private List<String> reasons() {
    return client.v1().events().inNamespace(namespace).list().getItems().stream()
        .map(Event::getReason)
        .toList();
  }

  private LoraAdapter get() {
    return get(ADAPTER);
  }

  private LoraAdapter get(String name) {
    return client.resources(LoraAdapter.class).inNamespace(namespace).withName(name).get();
  }

  private void pin(int version) {
    edit(a -> a.getSpec().setVersion(new IntOrString(version)));
  }

  /**
   * Changes the spec as {@code kubectl edit} would: the edit carries the resourceVersion read, so
   * it conflicts (409) when the operator wrote status in between; read again and retry then, as a
   * person would (a busy machine makes that race likely).
   */
  private void edit(java.util.function.Consumer<LoraAdapter> change) {
    Conflicts.retry(
        () ->
            client
                .resources(LoraAdapter.class)
                .inNamespace(namespace)
                .withName(ADAPTER)
                .edit(
                    a -> {
                      change.accept(a);
                      return a;
                    }));
  }

  static String path(int version) {
    return path(ADAPTER, version);
  }

  static String path(String adapter, int version) {
    return "/adapters/" + adapter + "/trials/job-v" + version + "/t000";
  }

  private void publish(int version, double evalLoss) {
    publish(ADAPTER, version, evalLoss);
  }

  private void publish(String adapter, int version, double evalLoss) {
    AdapterVersion v = new AdapterVersion();
    v.setVersion(version);
    v.setDigest("sha256:" + String.valueOf(version).repeat(64).substring(0, 64));
    v.setArtifactUri("pvc:/" + path(adapter, version));
    v.setBaseModel(new ModelIdentity("tiny", null));
    v.setRank(8);
    v.setAlpha(16.0);
    v.setTargetModules(List.of("q_proj"));
    TrialMetrics metrics = new TrialMetrics();
    metrics.setEvalLoss(evalLoss);
    v.setMetrics(metrics);
    var source = new io.loraops.operator.api.v1alpha1.VersionSource();
    source.setLoraJob("job-v" + version);
    source.setLoraJobUid("uid-" + version);
    source.setTrial("t000");
    v.setSource(source);
    v.setCreatedAt("2026-11-22T00:00:0" + version + "Z");
    client.resource(VersionRecords.record(namespace, adapter, v)).create();
  }

  private void deployment(String name, int replicas) {
    deployment(name, replicas, Map.of());
  }

  private void deployment(String name, int replicas, Map<String, String> podLabels) {
    client.resource(ServingPods.deployment(namespace, name, replicas, podLabels)).create();
  }

  private LoraAdapter adapter(
      int version, Serving.Loader loader, List<String> steps, int pauseSeconds) {
    return adapter(ADAPTER, "vllm", version, loader, steps, pauseSeconds);
  }

  private LoraAdapter adapter(
      String name,
      String deployment,
      int version,
      Serving.Loader loader,
      List<String> steps,
      int pauseSeconds) {
    LoraAdapter a = new LoraAdapter();
    a.getMetadata().setName(name);
    a.getMetadata().setNamespace(namespace);
    LoraAdapterSpec spec = new LoraAdapterSpec();
    spec.setBaseModel(new ModelIdentity("tiny", null));
    spec.setVersion(new IntOrString(version));
    Serving serving = new Serving();
    ServingTarget target = new ServingTarget();
    target.setDeployment(deployment);
    serving.setTargets(List.of(target));
    serving.setLoader(loader);
    serving.setPort(port);
    serving.getRollout().setPauseSeconds(pauseSeconds);
    serving
        .getRollout()
        .setSteps(
            steps.stream()
                .map(
                    s ->
                        s.endsWith("%") ? new IntOrString(s) : new IntOrString(Integer.parseInt(s)))
                .toList());
    spec.setServing(serving);
    a.setSpec(spec);
    return a;
  }
}
