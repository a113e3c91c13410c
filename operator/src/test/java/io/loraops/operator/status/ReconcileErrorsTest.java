package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReconcileErrorsTest {

  static final Instant T0 = Instant.parse("2026-11-22T06:00:00Z");
  static final Instant T1 = Instant.parse("2026-11-22T06:05:00Z");
  static final Instant T2 = Instant.parse("2026-11-22T06:06:00Z");

  static final KubernetesClientException REFUSED =
      new KubernetesClientException(
          new StatusBuilder()
              .withCode(403)
              .withReason("Forbidden")
              .withMessage(
                  "configmaps \"loraadapter-bot-v1\" is forbidden: ValidatingAdmissionPolicy"
                      + " 'no-versions' denied request: version records are frozen")
              .build());

  /** What a successful reconcile wrote: Synced True and another condition. */
  static final List<Condition> SYNCED =
      Conditions.apply(
          null,
          List.of(
              new Conditions.Desired("Complete", false, Reasons.PUBLISHING, "publishing"),
              ReconcileErrors.synced()),
          1L,
          T0);

  @Test
  void oneFailureIsNotShownASecondInARowIs() {
    assertThat(ReconcileErrors.shown(1)).isFalse();
    assertThat(ReconcileErrors.shown(2)).isTrue();
    assertThat(ReconcileErrors.shown(30)).isTrue();
  }

  @Test
  void failingSetsSyncedFalseWithTheApiServersAnswerAndLeavesTheRestAlone() {
    List<Condition> failing = ReconcileErrors.failing(SYNCED, REFUSED, 1L, T1);

    assertThat(failing).extracting(Condition::getType).containsExactly("Complete", "Synced");
    assertThat(failing.get(0)).isEqualTo(SYNCED.get(0));
    Condition synced = failing.get(1);
    assertThat(synced.getStatus()).isEqualTo("False");
    assertThat(synced.getReason()).isEqualTo("ReconcileError");
    assertThat(synced.getLastTransitionTime()).isEqualTo(T1.toString());
    assertThat(synced.getMessage())
        .contains("the API server answered 403 (Forbidden)")
        .contains("version records are frozen")
        .contains("at most 60 s apart");
    assertThat(Conditions.changed(SYNCED, failing)).containsExactly(synced);
  }

  @Test
  void theSameErrorAgainChangesNothingSoNothingIsWrittenOrRecorded() {
    List<Condition> first = ReconcileErrors.failing(SYNCED, REFUSED, 1L, T1);
    List<Condition> again = ReconcileErrors.failing(first, REFUSED, 1L, T2);

    assertThat(again).isEqualTo(first);
    assertThat(Conditions.changed(first, again)).isEmpty();
  }

  @Test
  void theFirstReconcileFailingLeavesOnlySynced() {
    assertThat(ReconcileErrors.failing(null, new IllegalStateException("no slot"), 1L, T1))
        .singleElement()
        .satisfies(
            c -> {
              assertThat(c.getType()).isEqualTo("Synced");
              assertThat(c.getMessage()).endsWith("IllegalStateException: no slot");
            });
  }

  @Test
  void theApiServersAnswerIsFoundUnderAWrappingException() {
    assertThat(ReconcileErrors.describe(new RuntimeException("publish failed", REFUSED)))
        .startsWith("the API server answered 403 (Forbidden): configmaps");
  }

  @Test
  void syncedTurningTrueAgainGetsNoEvent() {
    assertThat(LoraJobStatusCalculator.eventType(SYNCED.get(1))).isEmpty();
  }
}
