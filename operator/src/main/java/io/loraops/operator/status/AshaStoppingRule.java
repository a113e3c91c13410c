package io.loraops.operator.status;

import io.loraops.operator.api.v1alpha1.EarlyStopping;
import io.loraops.operator.api.v1alpha1.EvalPoint;
import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Asynchronous successive halving, ASHA (Li et al., "A System for Massively Parallel Hyperparameter
 * Tuning", MLSys 2020, arXiv:1810.05934, Algorithm 2), applied as Ray Tune's
 * AsyncHyperBandScheduler applies it to trials that run on rather than pause. Pure.
 *
 * <p>Rungs lie at {@code minSteps x eta^k} for every k that stays below {@code training.maxSteps}
 * (a rung at the last step would only stop a trial that is already done). A trial that reaches a
 * rung continues only if its eval loss there is within the top {@code floor(n / eta)} of the {@code
 * n} trials that reached the rung no later than it did, itself included: ASHA's promotion rule,
 * {@code top_k(rung, |rung| / eta)}. Ties go to the trial being judged.
 *
 * <ul>
 *   <li>"No later than" is by the time each trial printed its evaluation at the rung ({@link
 *       EvalPoint#getTime}, the kubelet's timestamp), so a trial's fate at a rung is settled when
 *       it gets there: trials that reach the rung after it never change it (ASHA never takes a
 *       promotion back), and the decision is the same after an operator restart. An evaluation
 *       without a time counts as the latest.
 *   <li>Too few trials: while fewer than eta trials have reached a rung, {@code floor(n / eta)} is
 *       0. In the paper such a trial waits at the rung until enough others arrive to promote it; a
 *       trial here cannot wait without holding its GPU, so it continues unjudged at that rung and
 *       meets the next one. The first eta - 1 trials to reach a rung always pass it.
 *   <li>Every trial with an evaluation at the rung counts, whatever it became later (finished,
 *       failed, stopped at a later rung): it reached the rung.
 *   <li>A trial is judged at every rung it has an evaluation for, lowest first; the first rung that
 *       cuts it is the one reported. A missing (not finite) loss is worse than any number.
 * </ul>
 */
public final class AshaStoppingRule {

  /** A trial to stop, with the rule's numbers. */
  public record Decision(
      String trial,
      long step,
      Double loss,
      int reached,
      int kept,
      double cutoff,
      int eta,
      List<Long> rungs)
      implements StopDecision {

    @Override
    public String message() {
      return String.format(
          Locale.ROOT,
          "eval loss %s at step %d is not in the top 1/%d of the %d trials that reached that"
              + " step so far: the best %d continue, up to eval loss %s (sweep.earlyStopping:"
              + " ASHA, rungs at steps %s)",
          format(loss),
          step,
          eta,
          reached,
          kept,
          format(cutoff),
          rungs.stream().map(String::valueOf).collect(Collectors.joining(", ")));
    }
  }

  private AshaStoppingRule() {}

  /** The rung steps of {@code spec}'s early stopping; empty unless its rule is ASHA. */
  public static List<Long> rungs(LoraJobSpec spec) {
    EarlyStopping rule = spec.getSweep() == null ? null : spec.getSweep().getEarlyStopping();
    if (rule == null
        || rule.getRule() != EarlyStopping.Rule.ASHA
        || spec.getTraining() == null
        || spec.getTraining().getMaxSteps() == null) {
      return List.of();
    }
    return rungs(
        rule.getMinSteps(), rule.reductionFactorOrDefault(), spec.getTraining().getMaxSteps());
  }

  /** {@code minSteps x eta^k} for k = 0, 1, ... below {@code maxSteps}. */
  static List<Long> rungs(long minSteps, int eta, long maxSteps) {
    List<Long> rungs = new ArrayList<>();
    for (long step = minSteps; step < maxSteps; step = Math.multiplyExact(step, eta)) {
      rungs.add(step);
    }
    return rungs;
  }

  public static List<Decision> decide(LoraJobSpec spec, List<TrialStatus> trials) {
    List<Decision> stop = new ArrayList<>();
    List<Long> rungs = rungs(spec);
    if (rungs.isEmpty()) {
      return stop;
    }
    int eta = spec.getSweep().getEarlyStopping().reductionFactorOrDefault();
    Map<Long, Map<String, EvalPoint>> atRungs = atRungs(trials, rungs);
    for (TrialStatus trial : trials) {
      if (TrialPhase.RUNNING.equals(trial.getPhase())
          && !Reasons.FINISHING.equals(trial.getReason())) {
        judge(trial.getName(), atRungs, rungs, eta).ifPresent(stop::add);
      }
    }
    return stop;
  }

  private static Optional<Decision> judge(
      String trial, Map<Long, Map<String, EvalPoint>> atRungs, List<Long> rungs, int eta) {
    for (long rung : rungs) {
      Map<String, EvalPoint> reachedRung = atRungs.get(rung);
      EvalPoint own = reachedRung.get(trial);
      if (own == null) {
        continue;
      }
      Instant reached = reachedAt(own);
      List<Double> losses = new ArrayList<>();
      reachedRung.forEach(
          (other, eval) -> {
            if (other.equals(trial) || !reachedAt(eval).isAfter(reached)) {
              losses.add(orWorst(eval.getLoss()));
            }
          });
      int kept = losses.size() / eta;
      if (kept == 0) {
        continue; // fewer than eta trials reached this rung: none is cut here
      }
      double cutoff = losses.stream().sorted().toList().get(kept - 1);
      if (orWorst(own.getLoss()) > cutoff) {
        return Optional.of(
            new Decision(trial, rung, own.getLoss(), losses.size(), kept, cutoff, eta, rungs));
      }
    }
    return Optional.empty();
  }

  /** Each rung's evaluations, by trial name. */
  private static Map<Long, Map<String, EvalPoint>> atRungs(
      List<TrialStatus> trials, List<Long> rungs) {
    Map<Long, Map<String, EvalPoint>> atRungs = new HashMap<>();
    rungs.forEach(rung -> atRungs.put(rung, new HashMap<>()));
    for (TrialStatus trial : trials) {
      if (trial.getProgress() == null) {
        continue;
      }
      for (EvalPoint eval : trial.getProgress().getEvals()) {
        Map<String, EvalPoint> rung = eval.getStep() == null ? null : atRungs.get(eval.getStep());
        if (rung != null) {
          rung.put(trial.getName(), eval);
        }
      }
    }
    return atRungs;
  }

  private static Instant reachedAt(EvalPoint eval) {
    return eval.getTime() == null ? Instant.MAX : Instant.parse(eval.getTime());
  }

  private static double orWorst(Double loss) {
    return loss == null || !Double.isFinite(loss) ? Double.POSITIVE_INFINITY : loss;
  }

  private static String format(Double x) {
    return x == null || !Double.isFinite(x) ? "not finite" : String.format(Locale.ROOT, "%.4g", x);
  }
}
