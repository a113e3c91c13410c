package io.loraops.operator.progress;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.operator.api.v1alpha1.EvalPoint;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.api.v1alpha1.TrialProgress;
import java.time.Instant;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Progress lines as the trainer prints them and the kubelet serves them, folded into state. */
class ProgressLinesTest {

  static final String LOG =
      """
      2026-11-26T10:00:01.100000000Z [main] INFO trainer - loading model
      2026-11-26T10:00:02.000000000Z {"elapsedSeconds":1.5,"event":"step","learningRate":1.0E-4,"loss":3.2,"step":1,"tokensPerSecond":850.0,"totalSteps":40}
      2026-11-26T10:00:03.000000000Z {"elapsedSeconds":3.0,"event":"step","learningRate":1.0E-4,"loss":3.1,"step":2,"tokensPerSecond":860.0,"totalSteps":40}
      2026-11-26T10:00:03.500000000Z {"elapsedSeconds":3.0,"event":"eval","loss":3.05,"step":2,"totalSteps":40}
      2026-11-26T10:00:04.000000000Z {"elapsedSeconds":4.5,"event":"step","loss":3.0,"st
      """;

  @Test
  void parsesProgressLinesAndSkipsTheRest() {
    var lines = ProgressLines.parse(LOG);

    assertThat(lines).extracting(l -> l.event().event()).containsExactly("step", "step", "eval");
    assertThat(lines.get(2).at()).isEqualTo(Instant.parse("2026-11-26T10:00:03.5Z"));
    assertThat(ProgressLines.parse("{\"event\":\"step\",\"step\":3,\"totalSteps\":9}"))
        .as("without the kubelet's timestamp")
        .singleElement()
        .satisfies(l -> assertThat(l.at()).isNull());
  }

  @Test
  void foldingIsIdempotentSoOverlappingReadsChangeNothing() {
    PodProgress once = PodProgress.EMPTY.fold(ProgressLines.parse(LOG));
    PodProgress twice = once.fold(ProgressLines.parse(LOG));

    assertThat(twice).isEqualTo(once);
    assertThat(once.step()).isEqualTo(2);
    assertThat(once.totalSteps()).isEqualTo(40);
    assertThat(once.trainLoss()).isEqualTo(3.1);
    assertThat(once.elapsedSeconds()).isEqualTo(3.0);
    assertThat(once.evals()).containsEntry(2L, 3.05);
    assertThat(once.evaluatedAt()).containsEntry(2L, Instant.parse("2026-11-26T10:00:03.5Z"));
    assertThat(once.lastLineAt()).isEqualTo(Instant.parse("2026-11-26T10:00:03.5Z"));
  }

  @Test
  void trialProgressHasTheLatestValuesAndTheTimeLeft() {
    TrialProgress p =
        TrialProgresses.merge(null, PodProgress.EMPTY.fold(ProgressLines.parse(LOG)), Set.of());

    assertThat(p.getStep()).isEqualTo(2);
    assertThat(p.getEvalLoss()).isEqualTo(3.05);
    assertThat(p.getTokensPerSecond()).isEqualTo(860.0);
    assertThat(p.getEtaSeconds()).as("1.5 s/step x 38 steps").isEqualTo(57);
    assertThat(p.getEvals()).containsExactly(new EvalPoint(2L, 3.05, "2026-11-26T10:00:03.500Z"));
  }

  @Test
  void aRetriedTrialKeepsTheEvaluationsOfItsEarlierPods() {
    TrialProgress before = new TrialProgress();
    before.getEvals().add(new EvalPoint(1L, 3.3));
    before.setTotalSteps(40L);

    TrialProgress p =
        TrialProgresses.merge(before, PodProgress.EMPTY.fold(ProgressLines.parse(LOG)), Set.of());

    assertThat(p.getEvals())
        .containsExactly(
            new EvalPoint(1L, 3.3), new EvalPoint(2L, 3.05, "2026-11-26T10:00:03.500Z"));
  }

  @Test
  void anEvaluationKeepsTheTimeItsStepWasFirstReached() {
    TrialProgress before = new TrialProgress();
    before.getEvals().add(new EvalPoint(2L, 3.1, "2026-11-26T09:00:00Z"));

    TrialProgress p =
        TrialProgresses.merge(before, PodProgress.EMPTY.fold(ProgressLines.parse(LOG)), Set.of());

    assertThat(p.getEvals())
        .as("a retried pod evaluated step 2 again: the new loss, the first time")
        .containsExactly(new EvalPoint(2L, 3.05, "2026-11-26T09:00:00Z"));
  }

  @Test
  void notFiniteLossesAreLeftOutOfTheStatusAndEvalsAreCapped() {
    StringBuilder log = new StringBuilder();
    for (int s = 1; s <= 60; s++) {
      log.append(
          "{\"event\":\"eval\",\"step\":%d,\"totalSteps\":60,\"loss\":%s}\n"
              .formatted(s, s == 60 ? "\"NaN\"" : "1.0"));
    }
    TrialProgress p =
        TrialProgresses.merge(
            null, PodProgress.EMPTY.fold(ProgressLines.parse(log.toString())), Set.of());

    assertThat(p.getEvals()).hasSize(TrialProgresses.MAX_EVALS);
    assertThat(p.getEvals().get(p.getEvals().size() - 1)).isEqualTo(new EvalPoint(60L, null));
    assertThat(p.getEvalLoss()).isNull();

    TrialProgress rungs =
        TrialProgresses.merge(
            null, PodProgress.EMPTY.fold(ProgressLines.parse(log.toString())), Set.of(1L, 3L));
    assertThat(rungs.getEvals())
        .as("the evaluations at ASHA's rungs are kept beyond the cap")
        .hasSize(TrialProgresses.MAX_EVALS + 2)
        .extracting(EvalPoint::getStep)
        .startsWith(1L, 3L, 11L);
  }

  @Test
  void aSucceededTrialEndsAtItsLastStepWithItsFinalEvaluation() {
    TrialMetrics m = new TrialMetrics();
    m.setSteps(40L);
    m.setEvalLoss(2.5);
    m.setTrainLoss(2.4);

    TrialProgress p =
        TrialProgresses.finished(
            TrialProgresses.merge(null, PodProgress.EMPTY.fold(ProgressLines.parse(LOG)), Set.of()),
            m,
            Set.of());

    assertThat(p.getStep()).isEqualTo(40);
    assertThat(p.getEtaSeconds()).isZero();
    assertThat(p.getEvals())
        .containsExactly(
            new EvalPoint(2L, 3.05, "2026-11-26T10:00:03.500Z"), new EvalPoint(40L, 2.5));
  }
}
