package io.loraops.operator.status;

import io.loraops.operator.api.v1alpha1.EarlyStopping;
import io.loraops.operator.api.v1alpha1.EvalPoint;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The median stopping rule (Golovin et al., "Google Vizier", KDD 2017, section 3.2.2): stop a trial
 * whose eval loss at a step is worse than the median of other trials' eval losses at the same step.
 * Pure.
 *
 * <p>The other trials are the finished ones (succeeded or stopped early), as Katib's medianstop,
 * Ray Tune's MedianStoppingRule and Optuna's MedianPruner take them: trials running side by side
 * would otherwise stop each other, and with two good trials at a time the slightly worse one of
 * each pair would go. A trial is judged at its latest step that at least {@code minTrials} finished
 * trials also reached, and only from {@code minSteps} on. A missing (not finite) loss is worse than
 * any number.
 */
public final class MedianStoppingRule {

  /** A trial to stop, with the rule's numbers. */
  public record Decision(String trial, long step, Double loss, double median, int compared)
      implements StopDecision {

    @Override
    public String message() {
      return String.format(
          Locale.ROOT,
          "eval loss %s at step %d is worse than the median %s of %d finished trials at that"
              + " step (sweep.earlyStopping: Median)",
          format(loss),
          step,
          format(median),
          compared);
    }
  }

  private MedianStoppingRule() {}

  public static List<Decision> decide(EarlyStopping rule, List<TrialStatus> trials) {
    List<Decision> stop = new ArrayList<>();
    if (rule == null || rule.getRule() != EarlyStopping.Rule.Median) {
      return stop;
    }
    List<TrialStatus> finished =
        trials.stream()
            .filter(
                t ->
                    TrialPhase.SUCCEEDED.equals(t.getPhase())
                        || TrialPhase.EARLY_STOPPED.equals(t.getPhase()))
            .toList();
    for (TrialStatus trial : trials) {
      if (TrialPhase.RUNNING.equals(trial.getPhase())
          && !Reasons.FINISHING.equals(trial.getReason())) {
        judge(trial, finished, rule).ifPresent(stop::add);
      }
    }
    return stop;
  }

  private static Optional<Decision> judge(
      TrialStatus trial, List<TrialStatus> finished, EarlyStopping rule) {
    List<EvalPoint> evals = evals(trial);
    for (int i = evals.size() - 1; i >= 0; i--) {
      EvalPoint point = evals.get(i);
      if (point.getStep() < rule.getMinSteps()) {
        return Optional.empty();
      }
      List<Double> others = new ArrayList<>();
      for (TrialStatus other : finished) {
        lossAt(other, point.getStep()).ifPresent(others::add);
      }
      if (others.size() < rule.minTrialsOrDefault()) {
        continue; // not enough finished trials reached this step: try an earlier one
      }
      double median = median(others);
      double loss = orWorst(point.getLoss());
      return loss > median
          ? Optional.of(
              new Decision(
                  trial.getName(), point.getStep(), point.getLoss(), median, others.size()))
          : Optional.empty();
    }
    return Optional.empty();
  }

  private static List<EvalPoint> evals(TrialStatus trial) {
    if (trial.getProgress() == null) {
      return List.of();
    }
    return trial.getProgress().getEvals().stream()
        .filter(e -> e.getStep() != null)
        .sorted(Comparator.comparing(EvalPoint::getStep))
        .toList();
  }

  /** A trial's eval loss at exactly {@code step}; a missing loss counts as the worst. */
  private static Optional<Double> lossAt(TrialStatus trial, long step) {
    return evals(trial).stream()
        .filter(e -> e.getStep() == step)
        .map(e -> orWorst(e.getLoss()))
        .findFirst();
  }

  static double median(List<Double> values) {
    List<Double> sorted = values.stream().sorted().toList();
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }

  private static double orWorst(Double loss) {
    return loss == null || !Double.isFinite(loss) ? Double.POSITIVE_INFINITY : loss;
  }

  private static String format(Double x) {
    return x == null || !Double.isFinite(x) ? "not finite" : String.format(Locale.ROOT, "%.4g", x);
  }
}
