package io.loraops.operator.status;

import io.loraops.operator.api.v1alpha1.BestTrial;
import io.loraops.operator.api.v1alpha1.Objective;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/** Picks the best succeeded trial by the objective; ties go to the earlier trial. Pure. */
public final class BestTrialSelector {

  private BestTrialSelector() {}

  public static Optional<TrialStatus> select(List<TrialStatus> trials, Objective objective) {
    Comparator<TrialStatus> byValue =
        Comparator.comparingDouble(t -> value(t, objective.getMetric()));
    if (objective.getGoal() == Objective.Goal.Maximize) {
      byValue = byValue.reversed();
    }
    return trials.stream()
        .filter(t -> TrialPhase.SUCCEEDED.equals(t.getPhase()))
        .filter(t -> valueOrNull(t.getMetrics(), objective.getMetric()) != null)
        .min(byValue.thenComparing(TrialStatus::getIndex));
  }

  /**
   * The summary people read (in {@code kubectl get lj}): losses to 4 significant digits, not 16.
   * The exact values stay in {@code status.trials[].metrics} and in the version record.
   */
  public static BestTrial describe(TrialStatus trial, Objective objective) {
    BestTrial best = new BestTrial();
    best.setName(trial.getName());
    best.setRank(trial.getParameters().getRank());
    best.setAlpha(trial.getParameters().getAlpha());
    best.setLearningRate(trial.getParameters().getLearningRate());
    best.setEvalLoss(
        trial.getMetrics() == null ? null : readable(trial.getMetrics().getEvalLoss()));
    best.setObjectiveValue(readable(value(trial, objective.getMetric())));
    return best;
  }

  /** {@code x} to 4 significant digits (null stays null). */
  static Double readable(Double x) {
    if (x == null || !Double.isFinite(x) || x == 0) {
      return x;
    }
    return new java.math.BigDecimal(x)
        .round(new java.math.MathContext(4, java.math.RoundingMode.HALF_EVEN))
        .doubleValue();
  }

  private static double value(TrialStatus t, Objective.Metric metric) {
    return valueOrNull(t.getMetrics(), metric);
  }

  private static Double valueOrNull(TrialMetrics m, Objective.Metric metric) {
    if (m == null) {
      return null;
    }
    return switch (metric) {
      case evalLoss -> m.getEvalLoss();
      case trainLoss -> m.getTrainLoss();
      case perplexity -> m.getPerplexity();
    };
  }
}
