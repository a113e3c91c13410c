package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.status.Conditions;

/** What a LoraAdapter's status says when a rollout has ended, shared by the ITs and E2E tests. */
public final class RolloutAssertions {
  private RolloutAssertions() {}

  /** {@code version} serves, for the current generation, and no rollout runs. */
  public static void assertServing(LoraAdapter a, int version) {
    assertThat(a.getStatus()).isNotNull();
    assertThat(a.getStatus().getServingVersion()).isEqualTo(version);
    assertThat(a.getStatus().getObservedGeneration()).isEqualTo(a.getMetadata().getGeneration());
    assertThat(condition(a, "Ready").getReason()).isEqualTo("Serving");
    assertThat(Conditions.isTrue(a.getStatus().getConditions(), "Progressing")).isFalse();
  }

  /**
   * The last rollout was rolled back, {@code serving} (or nothing) still serves, and Degraded says
   * so; returns Degraded's message.
   */
  public static String assertRolledBack(LoraAdapter a, Integer serving) {
    assertThat(a.getStatus().getRollout().getPhase()).isEqualTo(RolloutStatus.ROLLED_BACK);
    assertThat(a.getStatus().getServingVersion()).isEqualTo(serving);
    Condition degraded = condition(a, "Degraded");
    assertThat(degraded.getStatus()).isEqualTo("True");
    assertThat(degraded.getReason()).isEqualTo("RolledBack");
    return degraded.getMessage();
  }

  private static Condition condition(LoraAdapter a, String type) {
    return Conditions.find(a.getStatus().getConditions(), type).orElseThrow();
  }
}
