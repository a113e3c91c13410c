package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.sweep.SweepExpander;
import io.loraops.operator.sweep.Trial;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Every state of a LoraJob and a LoraAdapter that an Argo CD or Flux user watches, with the health
 * each tool should show, as the operator's own calculators write it. The states go to
 * hack/health/testdata/states.json (a golden file: {@code -Dgolden.update=true} rewrites it), where
 * hack/health's Go test runs Argo CD's Lua health scripts and Flux's kstatus on them.
 */
class HealthStatesTest {

  static final Path STATES = Path.of("../hack/health/testdata/states.json");
  static final Instant NOW = Instant.parse("2026-11-22T06:00:00Z");

  final List<Map<String, Object>> states = new ArrayList<>();

  @Test
  void statesFileIsWhatTheCalculatorsWrite() throws JsonProcessingException {
    loraJobStates();
    loraAdapterStates();
    String actual =
        Serialization.jsonMapper().writerWithDefaultPrettyPrinter().writeValueAsString(states)
            + "\n";
    assertThat(Fixtures.golden(STATES, actual))
        .as("%s is stale: run this test with -Dgolden.update=true and commit it", STATES)
        .isEqualTo(actual);
  }

  private void loraJobStates() {
    state("lorajob-pending", "Progressing", "InProgress", job(false, "Waiting", "Waiting"));
    state("lorajob-running", "Progressing", "InProgress", job(false, "Succeeded", "Running"));
    state("lorajob-queued", "Progressing", "InProgress", job(false, "Queued", "Queued"));
    state("lorajob-suspended", "Suspended", "Current", job(true, "Succeeded", "Suspended"));
    state("lorajob-succeeded", "Healthy", "Current", job(false, "Succeeded", "Succeeded"));
    state("lorajob-finished-suspend", "Healthy", "Current", job(true, "Succeeded", "Succeeded"));
    state("lorajob-all-trials-failed", "Degraded", "Failed", job(false, "Failed", "Failed"));
    LoraJob refused = jobSpec(false);
    refused.setStatus(
        LoraJobStatusCalculator.compute(
            refused,
            trials(refused, "Succeeded", "Succeeded"),
            PublishOutcome.refused("BaseModelMismatch", "LoraAdapter support-bot is for another"),
            NOW));
    state("lorajob-base-model-mismatch", "Degraded", "Failed", refused);
    // Edited in git after the operator's last status: both tools wait for the operator.
    state(
        "lorajob-edited-after-success",
        "Progressing",
        "InProgress",
        bump(job(false, "Succeeded", "Succeeded")));
    LoraJob resumed = bump(job(true, "Succeeded", "Suspended"));
    resumed.getSpec().setSuspend(false);
    state("lorajob-resumed-in-git", "Progressing", "InProgress", resumed);
  }

  private void loraAdapterStates() {
    state("loraadapter-no-versions", "Progressing", "InProgress", adapter("latest", List.of()));
    state("loraadapter-available", "Healthy", "Current", adapter("latest", List.of(1)));
    state("loraadapter-pinned-missing", "Degraded", "Failed", adapter("7", List.of(1, 2)));
    LoraAdapter mismatch = adapter("1", List.of(1));
    mismatch.getStatus().getVersions().forEach(v -> v.getBaseModel().setName("other-base"));
    state(
        "loraadapter-base-model-mismatch",
        "Degraded",
        "Failed",
        recompute(mismatch, mismatch.getStatus().getVersions(), null));
    state("loraadapter-first-rollout", "Progressing", "InProgress", serving(null, "Progressing"));
    state("loraadapter-rolling-out", "Progressing", "InProgress", serving(1, "Progressing"));
    state("loraadapter-served", "Healthy", "Current", serving(2, "Succeeded"));
    state("loraadapter-rolled-back", "Degraded", "Failed", serving(1, "RolledBack"));
    state(
        "loraadapter-first-rollout-rolled-back", "Degraded", "Failed", serving(null, "RolledBack"));
    RolloutStatus refused = rollout(2, RolloutStatus.ROLLED_BACK);
    refused.setReason(RolloutStatus.INCOMPATIBLE_ADAPTER);
    refused.setMessage("rank 64 is above the server's --max-lora-rank 16");
    state("loraadapter-incompatible-adapter", "Degraded", "Failed", serving(1, refused));
    LoraAdapter problem = adapter("2", List.of(1, 2));
    state(
        "loraadapter-serving-problem",
        "Degraded",
        "Failed",
        recompute(
            problem,
            problem.getStatus().getVersions(),
            new LoraAdapterStatusCalculator.ServingResult(
                2,
                rollout(2, "Succeeded"),
                List.of(),
                List.of("deployment vllm is missing"),
                Optional.empty())));
    LoraAdapter notPromoted = adapter("latest", List.of(1, 2));
    state(
        "loraadapter-not-promoted",
        "Healthy",
        "Current",
        recompute(
            notPromoted,
            notPromoted.getStatus().getVersions(),
            new LoraAdapterStatusCalculator.ServingResult(
                1, null, List.of(), List.of(), Optional.of("evalLoss of 2 is not lower"))));
    state("loraadapter-edited", "Progressing", "InProgress", bump(serving(2, "Succeeded")));
  }

  private void state(String name, String argocd, String kstatus, HasMetadata object) {
    Map<String, Object> state = new LinkedHashMap<>();
    state.put("name", name);
    state.put("argocd", argocd);
    state.put("kstatus", kstatus);
    state.put("object", object);
    states.add(state);
  }

  /** A two-trial LoraJob whose trials are in {@code phases}; published once all succeeded. */
  private static LoraJob job(boolean suspend, String... phases) {
    LoraJob job = jobSpec(suspend);
    boolean published = List.of(phases).stream().allMatch("Succeeded"::equals);
    job.setStatus(
        LoraJobStatusCalculator.compute(
            job,
            trials(job, phases),
            published ? PublishOutcome.published(1) : PublishOutcome.notAttempted(),
            NOW));
    return job;
  }

  private static LoraJob jobSpec(boolean suspend) {
    LoraJob job = Fixtures.load("support-bot-sweep.yaml", LoraJob.class);
    job.getSpec().getSweep().setLearningRate(List.of(2e-4)); // two trials: rank 4 and 8
    job.getSpec().setSuspend(suspend);
    return job;
  }

  private static List<io.loraops.operator.api.v1alpha1.TrialStatus> trials(
      LoraJob job, String... phases) {
    List<Trial> trials = SweepExpander.expand(job.getSpec());
    assertThat(trials).hasSize(phases.length);
    return LoraJobStatusCalculatorTest.statuses(trials, phases);
  }

  /** A LoraAdapter wanting {@code version} with these versions published, no serving targets. */
  private static LoraAdapter adapter(String version, List<Integer> versions) {
    LoraAdapter adapter = LoraAdapterStatusCalculatorTest.adapter(version);
    List<AdapterVersion> records =
        versions.stream()
            .map(v -> LoraAdapterStatusCalculatorTest.version(v, "tiny-gpt2"))
            .toList();
    return recompute(adapter, records, null);
  }

  /** Version 2 wanted; {@code served} serves; the last rollout of version 2 is in {@code phase}. */
  private static LoraAdapter serving(Integer served, String phase) {
    return serving(served, rollout(2, phase));
  }

  private static LoraAdapter serving(Integer served, RolloutStatus rollout) {
    LoraAdapter adapter = adapter("2", List.of(1, 2));
    return recompute(
        adapter,
        adapter.getStatus().getVersions(),
        new LoraAdapterStatusCalculator.ServingResult(
            served, rollout, List.of(), List.of(), Optional.empty()));
  }

  private static RolloutStatus rollout(int version, String phase) {
    RolloutStatus rollout = new RolloutStatus();
    rollout.setVersion(version);
    rollout.setFromVersion(version - 1);
    rollout.setPhase(phase);
    rollout.setStep(0);
    rollout.setSteps(2);
    rollout.setMessage(
        RolloutStatus.ROLLED_BACK.equals(phase)
            ? "probe completion failed: 500"
            : "waiting for ready pods of deployment vllm");
    return rollout;
  }

  private static LoraAdapter recompute(
      LoraAdapter adapter,
      List<AdapterVersion> records,
      LoraAdapterStatusCalculator.ServingResult serving) {
    adapter.setStatus(LoraAdapterStatusCalculator.compute(adapter, records, serving, NOW));
    return adapter;
  }

  /** The spec edited after the operator last wrote status. */
  private static <T extends HasMetadata> T bump(T object) {
    object.getMetadata().setGeneration(object.getMetadata().getGeneration() + 1);
    return object;
  }
}
