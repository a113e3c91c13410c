package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import io.loraops.operator.api.v1alpha1.Rollout;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.rollout.ServingTargets.Target;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The hotLoad loader against an in-memory server per pod: canary selection, the probe gate and
 * rollback, an incompatible version refused before loading, healing a replaced pod, retiring the
 * old version.
 */
class HotLoadRolloutTest {
  static final Instant NOW = Instant.parse("2026-11-26T02:00:00Z");

  final FakeInferenceServer servers = new FakeInferenceServer();
  final HotLoadRollout loader = new HotLoadRollout(servers);
  final Map<Integer, AdapterVersion> versions = new TreeMap<>();

  HotLoadRolloutTest() {
    for (int v = 1; v <= 3; v++) {
      versions.put(v, version(v, v == 3 ? 32 : 8));
    }
  }

  static AdapterVersion version(int n, int rank) {
    AdapterVersion v = new AdapterVersion();
    v.setVersion(n);
    v.setArtifactUri("file:///adapters/bot/v" + n);
    v.setRank(rank);
    v.setBaseModel(new ModelIdentity(FakeInferenceServer.BASE, null));
    return v;
  }

  static Pod pod(String name, String ip) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .endMetadata()
        .withNewSpec()
        .addNewContainer()
        .withName("vllm")
        .endContainer()
        .endSpec()
        .withNewStatus()
        .withPodIP(ip)
        .addNewCondition()
        .withType("Ready")
        .withStatus("True")
        .endCondition()
        .endStatus()
        .build();
  }

  static Target target(String... pods) {
    Deployment deployment =
        new DeploymentBuilder()
            .withNewSpec()
            .withNewTemplate()
            .withNewSpec()
            .addNewContainer()
            .withName("vllm")
            .withArgs("--enable-lora", "--max-lora-rank", "16")
            .endContainer()
            .endSpec()
            .endTemplate()
            .endSpec()
            .build();
    List<Pod> list = new java.util.ArrayList<>();
    for (int i = 0; i < pods.length; i++) {
      list.add(pod(pods[i], "127.0.0." + (i + 10)));
    }
    return new Target("server", deployment, list, null);
  }

  /** Steps with a pause after each, so one reconcile passes at most one step. */
  static Rollout spec(Object... steps) {
    Rollout r = new Rollout();
    r.setPauseSeconds(300);
    for (Object step : steps) {
      r.getSteps()
          .add(step instanceof Integer i ? new IntOrString(i) : new IntOrString((String) step));
    }
    return r;
  }

  static RolloutStatus rollingOut(int version, Integer from) {
    RolloutStatus r = new RolloutStatus();
    r.setVersion(version);
    r.setFromVersion(from);
    r.setPhase(RolloutStatus.PROGRESSING);
    r.setStep(0);
    r.setGeneration(1L);
    r.setStartedAt(NOW.toString());
    return r;
  }

  Loader.Outcome run(Integer serving, RolloutStatus rollout, Rollout spec, Target target) {
    return loader.run(
        new Loader.Request(
            "bot", serving, rollout, spec, versions, 8000, null, NOW.plusSeconds(60)),
        List.of(target));
  }

  Map<String, String> served(String pod) {
    return servers.servers.getOrDefault(pod, Map.of());
  }

  @Test
  void theFirstStepPutsOnlyTheCanaryOnTheNewVersionAndTheOthersKeepTheOld() {
    Target target = target("pod-c", "pod-a", "pod-b");
    run(1, null, spec(1, "100%"), target); // steady state on v1: every pod gets it
    servers.loads.clear();

    Loader.Outcome outcome = run(1, rollingOut(2, 1), spec(1, "100%"), target);

    assertThat(outcome.rollout().getPhase()).isEqualTo(RolloutStatus.PROGRESSING);
    assertThat(outcome.rollout().getStepPassedAt()).isNotNull();
    assertThat(outcome.rollout().getMessage())
        .startsWith("1 pod passed the gates (probe on pod-a: 4 tokens in 5 ms");
    // the canary is the first pod by name; it serves v2 under both names
    assertThat(served("pod-a"))
        .containsEntry("bot-v2", "/adapters/bot/v2")
        .containsEntry("bot", "/adapters/bot/v2");
    assertThat(served("pod-b"))
        .containsEntry("bot", "/adapters/bot/v1")
        .doesNotContainKey("bot-v2");
    assertThat(served("pod-c"))
        .containsEntry("bot", "/adapters/bot/v1")
        .doesNotContainKey("bot-v2");
    assertThat(outcome.targets().get(0).getPodsUpdated()).isEqualTo(1);
    assertThat(outcome.serving()).isEqualTo(1);
    assertThat(outcome.events()).isEmpty(); // the step passes once its pause is over

    // the pause is over: the step passes, with an Event carrying its probe's numbers
    RolloutStatus paused = outcome.rollout();
    paused.setStepPassedAt(NOW.minusSeconds(300).toString());
    Loader.Outcome next = run(1, paused, spec(1, "100%"), target);
    assertThat(next.events())
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.reason()).isEqualTo("RolloutStep");
              assertThat(e.message())
                  .startsWith(
                      "version 2: step 1/2 (1 pod) passed its gates (probe on pod-a: 4 tokens in")
                  .endsWith("; on to step 2");
            });
  }

  @Test
  void theLastStepServesTheVersionEverywhereAndRetiresTheOldName() {
    Target target = target("pod-a", "pod-b");
    run(1, null, spec("100%"), target);

    Loader.Outcome outcome = run(1, rollingOut(2, 1), spec("100%"), target);

    assertThat(outcome.rollout().getPhase()).isEqualTo(RolloutStatus.SUCCEEDED);
    assertThat(outcome.serving()).isEqualTo(2);
    for (String pod : List.of("pod-a", "pod-b")) {
      assertThat(served(pod))
          .containsOnlyKeys("bot", "bot-v2")
          .containsEntry("bot", "/adapters/bot/v2");
    }
    assertThat(outcome.targets().get(0).getServingVersion()).isEqualTo(2);
    assertThat(outcome.rollout().getMessage())
        .isEqualTo(
            "version 2 is served on 2 pods (probe on pod-a: 4 tokens in 5 ms, mean"
                + " log-probability -1.000)");
  }

  @Test
  void aFailedProbeRollsEveryPodBackAndUnloadsTheFailedVersion() {
    Target target = target("pod-a", "pod-b");
    run(1, null, spec("100%"), target);
    servers.broken.add("/adapters/bot/v2");

    Loader.Outcome outcome = run(1, rollingOut(2, 1), spec("100%"), target);

    assertThat(outcome.rollout().getPhase()).isEqualTo(RolloutStatus.ROLLED_BACK);
    assertThat(outcome.rollout().getReason()).isEqualTo(RolloutStatus.GATE_FAILED);
    assertThat(outcome.rollout().getMessage())
        .contains("probe completion of bot-v2 on pod pod-a produced 4 tokens and no text");
    assertThat(outcome.serving()).isEqualTo(1);
    for (String pod : List.of("pod-a", "pod-b")) {
      assertThat(served(pod))
          .containsOnlyKeys("bot", "bot-v1")
          .containsEntry("bot", "/adapters/bot/v1");
    }
  }

  @Test
  void aVersionWhoseAnswersMoveTooFarFromTheServingOneIsRolledBack() {
    Target target = target("pod-a", "pod-b");
    run(1, null, spec("100%"), target);
    servers.overconfident.add("/adapters/bot/v2");
    Rollout spec = spec("100%");
    spec.getProbe().setMaxLogprobShift(0.5);

    Loader.Outcome outcome = run(1, rollingOut(2, 1), spec, target);

    assertThat(outcome.rollout().getPhase()).isEqualTo(RolloutStatus.ROLLED_BACK);
    assertThat(outcome.rollout().getMessage())
        .isEqualTo(
            "probe completion of bot-v2 on pod pod-a: mean log-probability -0.001 against -1.000"
                + " for bot-v1, a shift of 0.999 above maxLogprobShift 0.5");
    assertThat(served("pod-a")).containsEntry("bot", "/adapters/bot/v1");
  }

  @Test
  void aVersionAboveTheServersRankLimitIsRefusedBeforeAnyLoad() {
    Target target = target("pod-a", "pod-b");
    run(1, null, spec("100%"), target);
    servers.loads.clear();

    Loader.Outcome outcome = run(1, rollingOut(3, 1), spec(1, "100%"), target);

    assertThat(outcome.rollout().getPhase()).isEqualTo(RolloutStatus.ROLLED_BACK);
    assertThat(outcome.rollout().getReason()).isEqualTo(RolloutStatus.INCOMPATIBLE_ADAPTER);
    assertThat(outcome.rollout().getMessage())
        .isEqualTo(
            "deployment server (pod pod-a) cannot serve it: version 3 has rank 32, above the"
                + " server's --max-lora-rank 16");
    assertThat(servers.loads).isEmpty();
  }

  @Test
  void aReplacedPodIsGivenTheServingVersionAndAnUnreachableOneIsLeftForLater() {
    run(2, null, spec("100%"), target("pod-a", "pod-b"));
    servers.down.add("pod-b");

    Loader.Outcome outcome = run(2, null, spec("100%"), target("pod-a", "pod-b", "pod-new"));

    assertThat(served("pod-new"))
        .containsEntry("bot-v2", "/adapters/bot/v2")
        .containsEntry("bot", "/adapters/bot/v2");
    assertThat(outcome.targets().get(0).getMessage()).contains("pod pod-b: cannot connect");
    assertThat(outcome.requeue()).isNotNull(); // looks again for the unreachable pod
  }

  @Test
  void aRestartedOperatorLoadsNothingTwice() {
    Target target = target("pod-a", "pod-b");
    run(1, null, spec("100%"), target);
    Loader.Outcome canary = run(1, rollingOut(2, 1), spec(1, "100%"), target);
    int loads = servers.loads.size();

    // the step reconciled again from what status says (as after an operator restart)
    Loader.Outcome again = run(1, canary.rollout(), spec(1, "100%"), target);

    assertThat(servers.loads).hasSize(loads);
    assertThat(again.rollout().getStep()).isEqualTo(0); // still pausing after the canary
    assertThat(again.targets().get(0).getPodsUpdated()).isEqualTo(1);
  }
}
