package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterStatus;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class LoraAdapterStatusCalculatorTest {

  static final Instant NOW = Instant.parse("2026-11-22T06:00:00Z");

  LoraAdapter adapter = adapter("latest");

  /** A LoraAdapter for tiny-gpt2 wanting {@code version} (a number or latest), no status. */
  static LoraAdapter adapter(String version) {
    return Fixtures.yaml(
        """
        apiVersion: loraops.io/v1alpha1
        kind: LoraAdapter
        metadata: {name: support-bot, namespace: ml, generation: 2}
        spec:
          baseModel: {name: tiny-gpt2}
          version: %s
        """
            .formatted(version),
        LoraAdapter.class);
  }

  @Test
  void noVersionsYet() {
    LoraAdapterStatus status = LoraAdapterStatusCalculator.compute(adapter, List.of(), NOW);
    assertThat(status.getPhase()).isEqualTo("Empty");
    assertThat(ready(status).getReason()).isEqualTo("NoVersions");
    assertThat(status.getConditions())
        .extracting(Condition::getType)
        .containsExactly("Ready", "Progressing", "Degraded", "Synced", "Reconciling", "Stalled");
    assertThat(condition(status, "Reconciling").getStatus())
        .as("waits for its first version")
        .isEqualTo("True");
  }

  @Test
  void versionsAreNewestFirstAndLatestIsDesired() {
    LoraAdapterStatus status =
        LoraAdapterStatusCalculator.compute(
            adapter,
            List.of(version(1, "tiny-gpt2"), version(3, "tiny-gpt2"), version(2, "tiny-gpt2")),
            NOW);
    assertThat(status.getVersions())
        .extracting(AdapterVersion::getVersion)
        .containsExactly(3, 2, 1);
    assertThat(status.getLatestVersion()).isEqualTo(3);
    assertThat(status.getDesiredVersion()).isEqualTo(3);
    assertThat(ready(status).getStatus()).isEqualTo("True");
    assertThat(status.getObservedGeneration()).isEqualTo(2L);
  }

  @Test
  void pinnedVersionMustExist() {
    adapter.getSpec().setVersion(new IntOrString(7));
    LoraAdapterStatus status =
        LoraAdapterStatusCalculator.compute(adapter, List.of(version(1, "tiny-gpt2")), NOW);
    assertThat(ready(status).getReason()).isEqualTo("VersionNotFound");
    assertThat(ready(status).getMessage()).contains("spec.version 7 does not exist");
    adapter.getSpec().setVersion(new IntOrString(1));
    assertThat(
            LoraAdapterStatusCalculator.compute(adapter, List.of(version(1, "tiny-gpt2")), NOW)
                .getDesiredVersion())
        .isEqualTo(1);
  }

  @Test
  void versionForAnotherBaseIsRefused() {
    adapter.getSpec().setVersion(new IntOrString(2));
    LoraAdapterStatus status =
        LoraAdapterStatusCalculator.compute(
            adapter, List.of(version(1, "tiny-gpt2"), version(2, "llama")), NOW);
    assertThat(ready(status).getReason()).isEqualTo("BaseModelMismatch");
    assertThat(ready(status).getMessage()).contains("version 2 was trained on llama");
    assertThat(status.getPhase()).isEqualTo("Invalid");

    adapter.getSpec().setVersion(new IntOrString("latest"));
    assertThat(
            LoraAdapterStatusCalculator.compute(
                    adapter, List.of(version(1, "tiny-gpt2"), version(2, "llama")), NOW)
                .getDesiredVersion())
        .as("latest skips versions for another base")
        .isEqualTo(1);
  }

  @Test
  void readyChangesAreEventsAndOnlyRealProblemsAreWarnings() {
    LoraAdapterStatus empty = LoraAdapterStatusCalculator.compute(adapter, List.of(), NOW);
    assertThat(LoraAdapterStatusCalculator.eventType(ready(empty))).contains("Normal");
    adapter.getSpec().setVersion(new IntOrString(7));
    LoraAdapterStatus missing =
        LoraAdapterStatusCalculator.compute(adapter, List.of(version(1, "tiny-gpt2")), NOW);
    assertThat(LoraAdapterStatusCalculator.eventType(ready(missing))).contains("Warning");
    Condition progressing = Conditions.find(missing.getConditions(), "Progressing").orElseThrow();
    assertThat(LoraAdapterStatusCalculator.eventType(progressing)).isEmpty();
  }

  @Test
  void aRolloutInProgressIsProgressingAndAServedVersionIsReady() {
    LoraAdapterStatus status =
        servingOneWhileRollingOutTwo("Progressing", "waiting for ready pods of deployment vllm");
    assertThat(status.getPhase()).isEqualTo("RollingOut");
    assertThat(ready(status).getReason()).isEqualTo("Serving");
    Condition progressing = Conditions.find(status.getConditions(), "Progressing").get();
    assertThat(progressing.getStatus()).isEqualTo("True");
    assertThat(progressing.getMessage())
        .isEqualTo("version 2, step 1/2: waiting for ready pods of deployment vllm");
    assertThat(status.getServingVersion()).isEqualTo(1);
  }

  @Test
  void aRolledBackVersionIsDegradedWithTheGatesMessage() {
    LoraAdapterStatus status =
        servingOneWhileRollingOutTwo("RolledBack", "probe completion failed: 500");
    Condition degraded = Conditions.find(status.getConditions(), "Degraded").get();
    assertThat(degraded.getStatus()).isEqualTo("True");
    assertThat(degraded.getReason()).isEqualTo("RolledBack");
    assertThat(degraded.getMessage()).contains("probe completion failed: 500");
    assertThat(Conditions.find(status.getConditions(), "Progressing").get().getReason())
        .isEqualTo("RolledBack");
    assertThat(status.getPhase()).isEqualTo("RolledBack");
    assertThat(ready(status).getStatus()).isEqualTo("True"); // version 1 still serves
  }

  @Test
  void revertingToTheServingVersionClearsARollback() {
    // v2 was pinned and rolled back; the commit is reverted to pin v1, which still serves.
    adapter.getSpec().setVersion(new IntOrString(1));
    LoraAdapterStatus status =
        servingOneWhileRollingOutTwo("RolledBack", "probe completion failed: 500");
    Condition degraded = Conditions.find(status.getConditions(), "Degraded").get();
    assertThat(degraded.getStatus()).isEqualTo("False");
    assertThat(Conditions.find(status.getConditions(), "Progressing").get().getReason())
        .isEqualTo("RolloutComplete");
    assertThat(status.getPhase()).isEqualTo("Serving");
    assertThat(status.getRollout().getPhase()).isEqualTo("RolledBack"); // kept as history
  }

  @Test
  void aVersionThatIsNotBetterIsNotPromoted() {
    LoraAdapterStatus status =
        LoraAdapterStatusCalculator.compute(
            adapter,
            List.of(version(1, "tiny-gpt2"), version(2, "tiny-gpt2")),
            new LoraAdapterStatusCalculator.ServingResult(
                1, null, List.of(), List.of(), Optional.of("evalLoss is not lower")),
            NOW);
    Condition progressing = Conditions.find(status.getConditions(), "Progressing").get();
    assertThat(progressing.getStatus()).isEqualTo("False");
    assertThat(progressing.getReason()).isEqualTo("NotPromoted");
    assertThat(status.getPhase()).isEqualTo("Serving");
  }

  @Test
  void kstatusConditions() {
    LoraAdapterStatus rolling = servingOneWhileRollingOutTwo("Progressing", "waiting");
    assertThat(condition(rolling, "Reconciling").getStatus()).isEqualTo("True");
    assertThat(condition(rolling, "Reconciling").getReason()).isEqualTo("RollingOut");
    assertThat(condition(rolling, "Stalled").getStatus()).isEqualTo("False");

    LoraAdapterStatus rolledBack = servingOneWhileRollingOutTwo("RolledBack", "probe failed");
    assertThat(condition(rolledBack, "Stalled").getStatus()).isEqualTo("True");
    assertThat(condition(rolledBack, "Stalled").getReason()).isEqualTo("RolledBack");
    assertThat(condition(rolledBack, "Reconciling").getStatus()).isEqualTo("False");

    adapter.getSpec().setVersion(new IntOrString(7));
    LoraAdapterStatus missing =
        LoraAdapterStatusCalculator.compute(adapter, List.of(version(1, "tiny-gpt2")), NOW);
    assertThat(condition(missing, "Stalled").getReason()).isEqualTo("VersionNotFound");

    adapter.getSpec().setVersion(new IntOrString(1));
    LoraAdapterStatus served =
        LoraAdapterStatusCalculator.compute(adapter, List.of(version(1, "tiny-gpt2")), NOW);
    assertThat(condition(served, "Reconciling").getStatus()).isEqualTo("False");
    assertThat(condition(served, "Stalled").getStatus()).isEqualTo("False");
    assertThat(LoraAdapterStatusCalculator.eventType(condition(rolledBack, "Stalled"))).isEmpty();
  }

  private static Condition condition(LoraAdapterStatus status, String type) {
    return Conditions.find(status.getConditions(), type).orElseThrow();
  }

  /** Version 1 serves; a rollout of version 2 is in {@code phase} with {@code message}. */
  private LoraAdapterStatus servingOneWhileRollingOutTwo(String phase, String message) {
    RolloutStatus rollout = new RolloutStatus();
    rollout.setVersion(2);
    rollout.setFromVersion(1);
    rollout.setPhase(phase);
    rollout.setStep(0);
    rollout.setSteps(2);
    rollout.setMessage(message);
    return LoraAdapterStatusCalculator.compute(
        adapter,
        List.of(version(1, "tiny-gpt2"), version(2, "tiny-gpt2")),
        new LoraAdapterStatusCalculator.ServingResult(
            1, rollout, List.of(), List.of(), Optional.empty()),
        NOW);
  }

  private static Condition ready(LoraAdapterStatus status) {
    return Conditions.find(status.getConditions(), "Ready").orElseThrow();
  }

  static AdapterVersion version(int n, String base) {
    AdapterVersion v = new AdapterVersion();
    v.setVersion(n);
    v.setBaseModel(new ModelIdentity(base, null));
    v.setArtifactUri("pvc://adapters/v" + n);
    return v;
  }
}
