package io.loraops.operator.progress;

import io.loraops.operator.api.v1alpha1.EvalPoint;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.api.v1alpha1.TrialProgress;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.status.TrialPhase;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/** A trial's {@code status.trials[].progress}, from what its pods reported. Pure. */
public final class TrialProgresses {

  /**
   * Evaluations kept per trial (the latest, plus those at the steps the early-stopping rule
   * compares at): bounds the status of a 100-trial sweep.
   */
  static final int MAX_EVALS = 50;

  private TrialProgresses() {}

  /**
   * Sets {@code progress} on each observed trial that has none yet (a recorded result carries its
   * own): the previous status's progress, updated with what its current pod reported.
   *
   * @param previous progress per trial name in the last written status
   * @param live what each trial's current pod reported, by trial name
   * @param keep steps whose evaluations are kept beyond {@link #MAX_EVALS} (ASHA's rungs: a trial
   *     is compared with others there long after it moved on)
   */
  public static void attach(
      List<TrialStatus> observed,
      Map<String, TrialProgress> previous,
      Map<String, PodProgress> live,
      Set<Long> keep) {
    for (TrialStatus trial : observed) {
      if (trial.getProgress() != null) {
        continue;
      }
      TrialProgress progress =
          merge(previous.get(trial.getName()), live.get(trial.getName()), keep);
      if (TrialPhase.SUCCEEDED.equals(trial.getPhase())) {
        progress = finished(progress, trial.getMetrics(), keep);
      }
      trial.setProgress(progress);
    }
  }

  /** {@code previous} updated with {@code live}; null when neither says anything. */
  static TrialProgress merge(TrialProgress previous, PodProgress live, Set<Long> keep) {
    if (live == null || live.equals(PodProgress.EMPTY)) {
      return previous;
    }
    TrialProgress p = new TrialProgress();
    TreeMap<Long, EvalPoint> evals = byStep(previous);
    live.evals()
        .forEach(
            (step, loss) -> {
              // A retried pod may evaluate a step again: the step was first reached earlier.
              String seen = evals.containsKey(step) ? evals.get(step).getTime() : null;
              Instant at = live.evaluatedAt().get(step);
              String time =
                  seen != null && (at == null || Instant.parse(seen).isBefore(at))
                      ? seen
                      : at == null ? null : at.toString();
              evals.put(step, new EvalPoint(step, loss, time));
            });
    p.setStep(live.step());
    p.setTotalSteps(
        live.totalSteps() != null
            ? live.totalSteps()
            : previous == null ? null : previous.getTotalSteps());
    p.setTrainLoss(finite(live.trainLoss()));
    p.setEvalLoss(evals.isEmpty() ? null : finite(evals.lastEntry().getValue().getLoss()));
    p.setTokensPerSecond(round(live.tokensPerSecond()));
    p.setElapsedSeconds(round(live.elapsedSeconds()));
    p.setEtaSeconds(eta(p.getStep(), p.getTotalSteps(), live.elapsedSeconds()));
    p.setEvals(points(evals, keep));
    return p;
  }

  /** A succeeded trial's progress ends at its last step, with its final evaluation. */
  static TrialProgress finished(TrialProgress progress, TrialMetrics metrics, Set<Long> keep) {
    TrialProgress p = progress == null ? new TrialProgress() : progress;
    if (metrics == null || metrics.getSteps() == null) {
      return p;
    }
    TreeMap<Long, EvalPoint> evals = byStep(p);
    if (metrics.getEvalLoss() != null) {
      EvalPoint printed = evals.get(metrics.getSteps());
      evals.put(
          metrics.getSteps(),
          new EvalPoint(
              metrics.getSteps(),
              metrics.getEvalLoss(),
              printed == null ? null : printed.getTime()));
      p.setEvalLoss(finite(metrics.getEvalLoss()));
    }
    p.setStep(metrics.getSteps());
    p.setTotalSteps(p.getTotalSteps() == null ? metrics.getSteps() : p.getTotalSteps());
    p.setTrainLoss(metrics.getTrainLoss() == null ? p.getTrainLoss() : metrics.getTrainLoss());
    p.setEtaSeconds(0L);
    p.setEvals(points(evals, keep));
    return p;
  }

  /** Seconds left at the measured seconds per step; null until both are known. */
  static Long eta(Long step, Long total, Double elapsed) {
    if (step == null || total == null || elapsed == null || step <= 0) {
      return null;
    }
    return Math.round(elapsed / step * Math.max(0, total - step));
  }

  private static TreeMap<Long, EvalPoint> byStep(TrialProgress progress) {
    TreeMap<Long, EvalPoint> evals = new TreeMap<>();
    if (progress != null) {
      progress.getEvals().forEach(e -> evals.put(e.getStep(), e));
    }
    return evals;
  }

  /** The latest {@link #MAX_EVALS} evaluations and those at {@code keep}, oldest first. */
  private static List<EvalPoint> points(TreeMap<Long, EvalPoint> evals, Set<Long> keep) {
    List<EvalPoint> points = new ArrayList<>();
    int skip = evals.size() - MAX_EVALS;
    for (EvalPoint e : evals.values()) {
      if (skip-- <= 0 || keep.contains(e.getStep())) {
        points.add(new EvalPoint(e.getStep(), finite(e.getLoss()), e.getTime()));
      }
    }
    return points;
  }

  /** Status fields are JSON numbers: NaN and infinities are left out (the trial diverged). */
  static Double finite(Double x) {
    return x == null || !Double.isFinite(x) ? null : x;
  }

  private static Double round(Double x) {
    return x == null || !Double.isFinite(x) ? null : Math.round(x * 100) / 100.0;
  }
}
