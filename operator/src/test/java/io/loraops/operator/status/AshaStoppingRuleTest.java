package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.operator.api.v1alpha1.EarlyStopping;
import io.loraops.operator.api.v1alpha1.EvalPoint;
import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.Sweep;
import io.loraops.operator.api.v1alpha1.Training;
import io.loraops.operator.api.v1alpha1.TrialProgress;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AshaStoppingRuleTest {

  static final Instant T0 = Instant.parse("2026-11-26T10:00:00Z");

  /** Rungs at steps 10 and 30 (90 is the last step, not a rung); eta 3. */
  LoraJobSpec spec = spec(10, 3, 90);

  /**
   * The paper's promotion rule worked by hand: nine trials reach rung 10 one after another, each
   * compared with those that got there before it (itself included), and the top floor(n / 3)
   * continue.
   *
   * <pre>
   * arrives  loss  n  kept  the n losses, sorted             cutoff  decision
   * t0       5.0   1  0     5.0                               -       continue (too few)
   * t1       4.0   2  0     4.0 5.0                           -       continue (too few)
   * t2       6.0   3  1     4.0 5.0 6.0                       4.0     stop
   * t3       3.0   4  1     3.0 4.0 5.0 6.0                   3.0     continue
   * t4       4.5   5  1     3.0 4.0 4.5 5.0 6.0               3.0     stop
   * t5       3.5   6  2     3.0 3.5 4.0 4.5 5.0 6.0           3.5     continue (ties go to it)
   * t6       3.8   7  2     3.0 3.5 3.8 4.0 4.5 5.0 6.0       3.5     stop
   * t7       2.0   8  2     2.0 3.0 3.5 3.8 4.0 ...           3.0     continue
   * t8       NaN   9  3     2.0 3.0 3.5 3.8 ... 6.0 NaN       3.5     stop (NaN is the worst)
   * </pre>
   *
   * Synchronous successive halving would promote the best 3 of 9 (t7, t3, t5); asynchronously, the
   * early arrivals t0 and t1 go on as well (the paper's "mispromotions", the price of never waiting
   * for a rung to fill).
   */
  @Test
  void handWorkedExampleOfThePromotionRule() {
    double[] losses = {5.0, 4.0, 6.0, 3.0, 4.5, 3.5, 3.8, 2.0, Double.NaN};
    List<TrialStatus> trials = new ArrayList<>();
    for (int i = 0; i < losses.length; i++) {
      trials.add(trial("t" + i, "Running", eval(10, losses[i], i)));
    }

    List<AshaStoppingRule.Decision> stop = AshaStoppingRule.decide(spec, trials);

    assertThat(stop)
        .extracting(AshaStoppingRule.Decision::trial)
        .containsExactly("t2", "t4", "t6", "t8");
    assertThat(stop)
        .extracting(d -> d.reached() + "/" + d.kept() + "/" + d.cutoff())
        .containsExactly("3/1/4.0", "5/1/3.0", "7/2/3.5", "9/3/3.5");
    assertThat(stop.get(0).message())
        .isEqualTo(
            "eval loss 6.000 at step 10 is not in the top 1/3 of the 3 trials that reached that"
                + " step so far: the best 1 continue, up to eval loss 4.000"
                + " (sweep.earlyStopping: ASHA, rungs at steps 10, 30)");
    assertThat(stop.get(3).message()).startsWith("eval loss not finite at step 10");
  }

  @Test
  void aTrialsFateAtARungIsSettledWhenItGetsThere() {
    List<TrialStatus> trials =
        List.of(
            trial("t0", "Running", eval(10, 3.0, 0)), // the worst, but first: it continues
            trial("t1", "Running", eval(10, 2.0, 1)),
            trial("t2", "EarlyStopped", eval(10, 2.5, 2)), // stopped here; still counts
            trial("t3", "Succeeded", eval(10, 1.0, 3), eval(30, 0.9, 30), eval(90, 0.8, 90)),
            trial("t4", "Running", eval(10, 1.5, 4)));

    assertThat(AshaStoppingRule.decide(spec, trials))
        .as("t4: 1.5 is not the best of the 5 that reached step 10 by then")
        .extracting(AshaStoppingRule.Decision::trial)
        .containsExactly("t4");
  }

  @Test
  void aTrialIsJudgedAtEveryRungItReached() {
    List<TrialStatus> trials =
        List.of(
            trial("t0", "Succeeded", eval(10, 2.0, 0), eval(30, 1.5, 20)),
            trial("t1", "Running", eval(10, 2.1, 1), eval(30, 1.4, 21)),
            trial("t2", "Running", eval(10, 1.9, 2), eval(20, 1.7, 12), eval(30, 1.6, 22)));

    List<AshaStoppingRule.Decision> stop = AshaStoppingRule.decide(spec, trials);

    assertThat(stop).hasSize(1);
    assertThat(stop.get(0).trial()).isEqualTo("t2");
    assertThat(stop.get(0).step()).as("best at rung 10, third of three at rung 30").isEqualTo(30);
    assertThat(stop.get(0).cutoff()).isEqualTo(1.4);
  }

  @Test
  void tiesGoToTheTrialJudgedAndAnEvaluationWithoutATimeCountsAsTheLatest() {
    List<TrialStatus> ties =
        List.of(
            trial("t0", "Running", eval(10, 2.0, 0)),
            trial("t1", "Running", eval(10, 2.0, 1)),
            trial("t2", "Running", eval(10, 2.0, 2)));
    assertThat(AshaStoppingRule.decide(spec, ties)).isEmpty();

    List<TrialStatus> untimed =
        List.of(
            trial("t0", "Running", eval(10, 3.0, 0)),
            trial("t1", "Running", eval(10, 2.0, 1)),
            trial("t2", "Running", new EvalPoint(10L, 2.5)));
    assertThat(AshaStoppingRule.decide(spec, untimed))
        .as("t2 is judged with all three; t0 and t1 without it")
        .extracting(AshaStoppingRule.Decision::trial)
        .containsExactly("t2");
  }

  @Test
  void onlyRunningTrialsAreJudgedAndOnlyUnderRuleAsha() {
    List<TrialStatus> trials =
        List.of(
            trial("t0", "Running", eval(10, 1.0, 0)),
            trial("t1", "Running", eval(10, 1.0, 1)),
            trial("t2", "Running", eval(10, 9.0, 2)));
    trials.get(2).setReason(Reasons.FINISHING);
    assertThat(AshaStoppingRule.decide(spec, trials)).as("t2's trainer already exited").isEmpty();

    trials.get(2).setReason(Reasons.TRAINING);
    assertThat(AshaStoppingRule.decide(spec, trials)).hasSize(1);
    spec.getSweep().getEarlyStopping().setRule(EarlyStopping.Rule.Median);
    assertThat(AshaStoppingRule.decide(spec, trials)).isEmpty();
    spec.getSweep().setEarlyStopping(null);
    assertThat(AshaStoppingRule.decide(spec, trials)).isEmpty();
  }

  @Test
  void rungsAreMinStepsTimesPowersOfEtaBelowTheLastStep() {
    assertThat(AshaStoppingRule.rungs(10, 3, 90)).containsExactly(10L, 30L);
    assertThat(AshaStoppingRule.rungs(10, 3, 91)).containsExactly(10L, 30L, 90L);
    assertThat(AshaStoppingRule.rungs(1, 3, 81)).containsExactly(1L, 3L, 9L, 27L);
    assertThat(AshaStoppingRule.rungs(10, 2, 45)).containsExactly(10L, 20L, 40L);
    assertThat(AshaStoppingRule.rungs(40, 3, 41)).containsExactly(40L);
    assertThat(AshaStoppingRule.rungs(spec)).containsExactly(10L, 30L);
    assertThat(AshaStoppingRule.rungs(10_000_000, 100, 10_000_000)).isEmpty();
  }

  static LoraJobSpec spec(int minSteps, int eta, int maxSteps) {
    EarlyStopping rule = new EarlyStopping();
    rule.setRule(EarlyStopping.Rule.ASHA);
    rule.setMinSteps(minSteps);
    rule.setReductionFactor(eta);
    Sweep sweep = new Sweep();
    sweep.setEarlyStopping(rule);
    Training training = new Training();
    training.setMaxSteps(maxSteps);
    LoraJobSpec spec = new LoraJobSpec();
    spec.setSweep(sweep);
    spec.setTraining(training);
    return spec;
  }

  /** An evaluation printed {@code second} seconds after {@link #T0}. */
  static EvalPoint eval(long step, double loss, int second) {
    return new EvalPoint(
        step, Double.isFinite(loss) ? loss : null, T0.plusSeconds(second).toString());
  }

  static TrialStatus trial(String name, String phase, EvalPoint... evals) {
    TrialStatus t = new TrialStatus();
    t.setName(name);
    t.setPhase(phase);
    t.setReason("Running".equals(phase) ? Reasons.TRAINING : null);
    TrialProgress p = new TrialProgress();
    p.setEvals(new ArrayList<>(List.of(evals)));
    t.setProgress(p);
    return t;
  }
}
