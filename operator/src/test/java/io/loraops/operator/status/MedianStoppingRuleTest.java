package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.operator.api.v1alpha1.EarlyStopping;
import io.loraops.operator.api.v1alpha1.EvalPoint;
import io.loraops.operator.api.v1alpha1.TrialProgress;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MedianStoppingRuleTest {

  EarlyStopping rule = rule(20, 2);

  @Test
  void stopsARunningTrialWorseThanTheMedianOfFinishedTrialsAtTheSameStep() {
    List<TrialStatus> trials =
        List.of(
            trial("t000", "Succeeded", 10, 2.5, 20, 2.0, 30, 1.8),
            trial("t001", "Succeeded", 10, 2.4, 20, 1.9, 30, 1.7),
            trial("t002", "EarlyStopped", 10, 2.6, 20, 3.0),
            trial("t003", "Running", 10, 2.9, 20, 2.1));

    List<MedianStoppingRule.Decision> stop = MedianStoppingRule.decide(rule, trials);

    assertThat(stop).hasSize(1);
    MedianStoppingRule.Decision d = stop.get(0);
    assertThat(d.trial()).isEqualTo("t003");
    assertThat(d.step()).isEqualTo(20);
    assertThat(d.median()).as("median of 2.0, 1.9, 3.0").isEqualTo(2.0);
    assertThat(d.compared()).isEqualTo(3);
    assertThat(d.message())
        .isEqualTo(
            "eval loss 2.100 at step 20 is worse than the median 2.000 of 3 finished trials at"
                + " that step (sweep.earlyStopping: Median)");
  }

  @Test
  void keepsATrialAtOrBelowTheMedian() {
    List<TrialStatus> trials =
        List.of(
            trial("t000", "Succeeded", 20, 2.0),
            trial("t001", "Succeeded", 20, 1.8),
            trial("t002", "Running", 20, 1.9));

    assertThat(MedianStoppingRule.decide(rule, trials)).as("median 1.9 is not exceeded").isEmpty();
  }

  @Test
  void judgesNothingBeforeMinStepsOrWithTooFewFinishedTrials() {
    List<TrialStatus> early =
        List.of(
            trial("t000", "Succeeded", 10, 2.0, 20, 1.5),
            trial("t001", "Succeeded", 10, 2.0, 20, 1.5),
            trial("t002", "Running", 10, 9.0));
    assertThat(MedianStoppingRule.decide(rule, early)).as("step 10 < minSteps 20").isEmpty();

    List<TrialStatus> alone =
        List.of(trial("t000", "Succeeded", 20, 1.5), trial("t001", "Running", 20, 9.0));
    assertThat(MedianStoppingRule.decide(rule, alone))
        .as("one finished trial < minTrials")
        .isEmpty();
    assertThat(MedianStoppingRule.decide(rule(20, 1), alone)).hasSize(1);
  }

  @Test
  void runningTrialsNeverStopEachOther() {
    List<TrialStatus> trials =
        List.of(
            trial("t000", "Running", 20, 1.5),
            trial("t001", "Running", 20, 1.6),
            trial("t002", "Running", 20, 9.0),
            trial("t003", "Failed", 20, 1.0));

    assertThat(MedianStoppingRule.decide(rule(20, 1), trials)).isEmpty();
  }

  @Test
  void judgesTheLatestStepThatEnoughFinishedTrialsReached() {
    // The finished trials evaluated up to step 40; the running one is at 60 already.
    List<TrialStatus> trials =
        List.of(
            trial("t000", "Succeeded", 20, 2.0, 40, 1.5),
            trial("t001", "Succeeded", 20, 2.2, 40, 1.7),
            trial("t002", "Running", 20, 2.1, 40, 1.65, 60, 5.0));

    assertThat(MedianStoppingRule.decide(rule, trials))
        .as("at step 40: 1.65 is above the median 1.6")
        .singleElement()
        .satisfies(d -> assertThat(d.step()).isEqualTo(40));
  }

  @Test
  void aNotFiniteLossIsWorseThanAnyNumber() {
    List<TrialStatus> trials =
        List.of(
            trial("t000", "Succeeded", 20, 2.0),
            trial("t001", "Succeeded", 20, 1.8),
            trial("t002", "Running", 20, null));

    assertThat(MedianStoppingRule.decide(rule, trials))
        .singleElement()
        .satisfies(d -> assertThat(d.message()).startsWith("eval loss not finite at step 20"));
  }

  @Test
  void medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
    assertThat(MedianStoppingRule.median(List.of(4.0, 1.0, 3.0, 2.0))).isEqualTo(2.5);
    assertThat(MedianStoppingRule.median(List.of(1.0, Double.POSITIVE_INFINITY))).isInfinite();
  }

  @Test
  void noRuleStopsNothing() {
    List<TrialStatus> trials =
        List.of(
            trial("t000", "Succeeded", 20, 1.0),
            trial("t001", "Succeeded", 20, 1.0),
            trial("t002", "Running", 20, 9.0));
    assertThat(MedianStoppingRule.decide(null, trials)).isEmpty();
  }

  static EarlyStopping rule(int minSteps, int minTrials) {
    EarlyStopping r = new EarlyStopping();
    r.setRule(EarlyStopping.Rule.Median);
    r.setMinSteps(minSteps);
    r.setMinTrials(minTrials);
    return r;
  }

  /** A trial with its evaluations as step, loss pairs. */
  static TrialStatus trial(String name, String phase, Object... stepLoss) {
    TrialStatus t = new TrialStatus();
    t.setName(name);
    t.setPhase(phase);
    t.setReason("Running".equals(phase) ? Reasons.TRAINING : null);
    TrialProgress p = new TrialProgress();
    List<EvalPoint> evals = new ArrayList<>();
    for (int i = 0; i < stepLoss.length; i += 2) {
      evals.add(
          new EvalPoint(((Number) stepLoss[i]).longValue(), (Double) toDouble(stepLoss[i + 1])));
    }
    p.setEvals(evals);
    t.setProgress(p);
    return t;
  }

  private static Double toDouble(Object o) {
    return o == null ? null : ((Number) o).doubleValue();
  }
}
