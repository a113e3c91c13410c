package io.loraops.operator.progress;

import io.loraops.operator.api.v1alpha1.EvalPoint;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.api.v1alpha1.TrialProgress;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.status.TrialPhase;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A trial's {@code status.trials[].progress}, from what its pods reported. Pure. */
public final class TrialProgresses {

  /** Evaluations kept per trial (the latest): bounds the status of a 100-trial sweep. */
  static final int MAX_EVALS = 50;

  private TrialProgresses() {}

  /**
   * Sets {@code progress} on each observed trial that has none yet (a recorded result carries its
   * own): the previous status's progress, updated with what its current pod reported.
   *
   * @param previous progress per trial name in the last written status
   * @param live what each trial's current pod reported, by trial name
   */
  public static void attach(
      List<TrialStatus> observed,
      Map<String, TrialProgress> previous,
      Map<String, PodProgress> live) {
    for (TrialStatus trial : observed) {
      if (trial.getProgress() != null) {
        continue;
      }
      TrialProgress progress = merge(previous.get(trial.getName()), live.get(trial.getName()));
      if (TrialPhase.SUCCEEDED.equals(trial.getPhase())) {
        progress = finished(progress, trial.getMetrics());
      }
      trial.setProgress(progress);
    }
  }

  /** {@code previous} updated with {@code live}; null when neither says anything. */
  static TrialProgress merge(TrialProgress previous, PodProgress live) {
    if (live == null || live.equals(PodProgress.EMPTY)) {
      return previous;
    }
    TrialProgress p = new TrialProgress();
    TreeMap<Long, Double> evals = new TreeMap<>();
    if (previous != null) {
      previous.getEvals().forEach(e -> evals.put(e.getStep(), e.getLoss()));
    }
    evals.putAll(live.evals());
    p.setStep(live.step());
    p.setTotalSteps(
        live.totalSteps() != null
            ? live.totalSteps()
            : previous == null ? null : previous.getTotalSteps());
    p.setTrainLoss(finite(live.trainLoss()));
    p.setEvalLoss(evals.isEmpty() ? null : finite(evals.lastEntry().getValue()));
    p.setTokensPerSecond(round(live.tokensPerSecond()));
    p.setElapsedSeconds(round(live.elapsedSeconds()));
    p.setEtaSeconds(eta(p.getStep(), p.getTotalSteps(), live.elapsedSeconds()));
    p.setEvals(points(evals));
    return p;
  }

  /** A succeeded trial's progress ends at its last step, with its final evaluation. */
  static TrialProgress finished(TrialProgress progress, TrialMetrics metrics) {
    TrialProgress p = progress == null ? new TrialProgress() : progress;
    if (metrics == null || metrics.getSteps() == null) {
      return p;
    }
    TreeMap<Long, Double> evals = new TreeMap<>();
    p.getEvals().forEach(e -> evals.put(e.getStep(), e.getLoss()));
    if (metrics.getEvalLoss() != null) {
      evals.put(metrics.getSteps(), metrics.getEvalLoss());
      p.setEvalLoss(finite(metrics.getEvalLoss()));
    }
    p.setStep(metrics.getSteps());
    p.setTotalSteps(p.getTotalSteps() == null ? metrics.getSteps() : p.getTotalSteps());
    p.setTrainLoss(metrics.getTrainLoss() == null ? p.getTrainLoss() : metrics.getTrainLoss());
    p.setEtaSeconds(0L);
    p.setEvals(points(evals));
    return p;
  }

  /** Seconds left at the measured seconds per step; null until both are known. */
  static Long eta(Long step, Long total, Double elapsed) {
    if (step == null || total == null || elapsed == null || step <= 0) {
      return null;
    }
    return Math.round(elapsed / step * Math.max(0, total - step));
  }

  private static List<EvalPoint> points(TreeMap<Long, Double> evals) {
    List<EvalPoint> points = new ArrayList<>();
    evals.forEach((step, loss) -> points.add(new EvalPoint(step, finite(loss))));
    return points.size() <= MAX_EVALS
        ? points
        : new ArrayList<>(points.subList(points.size() - MAX_EVALS, points.size()));
  }

  /** Status fields are JSON numbers: NaN and infinities are left out (the trial diverged). */
  static Double finite(Double x) {
    return x == null || !Double.isFinite(x) ? null : x;
  }

  private static Double round(Double x) {
    return x == null || !Double.isFinite(x) ? null : Math.round(x * 100) / 100.0;
  }
}
