package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterStatus;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class LoraAdapterStatusCalculatorTest {

  static final Instant NOW = Instant.parse("2026-11-22T06:00:00Z");

  LoraAdapter adapter =
      Fixtures.yaml(
          """
      apiVersion: loraops.io/v1alpha1
      kind: LoraAdapter
      metadata: {name: support-bot, namespace: ml, generation: 2}
      spec:
        baseModel: {name: tiny-gpt2}
        version: latest
      """,
          LoraAdapter.class);

  @Test
  void noVersionsYet() {
    LoraAdapterStatus status = LoraAdapterStatusCalculator.compute(adapter, List.of(), NOW);
    assertThat(status.getPhase()).isEqualTo("Empty");
    assertThat(ready(status).getReason()).isEqualTo("NoVersions");
    assertThat(status.getConditions())
        .extracting(Condition::getType)
        .containsExactly("Ready", "Progressing", "Degraded");
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

  private static Condition ready(LoraAdapterStatus status) {
    return Conditions.find(status.getConditions(), "Ready").orElseThrow();
  }

  private static AdapterVersion version(int n, String base) {
    AdapterVersion v = new AdapterVersion();
    v.setVersion(n);
    v.setBaseModel(new ModelIdentity(base, null));
    v.setArtifactUri("pvc://adapters/v" + n);
    return v;
  }
}
