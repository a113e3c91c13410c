package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobStatus;
import io.loraops.operator.api.v1alpha1.Objective;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.support.EventRecorder;
import io.loraops.operator.support.Labels;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * A LoraJob's status as a pure function of its spec, its trials and the publish outcome.
 *
 * <p>Condition types and their reasons (documented for users in docs/conditions.md):
 *
 * <ul>
 *   <li>{@code Progressing}: True {@code TrialsRunning}; False {@code Suspended}, {@code Finished},
 *       {@code Failed}.
 *   <li>{@code Suspended}: True {@code Suspended}; False {@code NotSuspended}, {@code Finished}.
 *   <li>{@code Complete}: True {@code VersionPublished}; False {@code TrialsRunning}, {@code
 *       Publishing}, {@code Suspended}, or the Failed reason.
 *   <li>{@code Failed}: True {@code AllTrialsFailed}, {@code NoComparableTrial}, {@code
 *       BaseModelMismatch}, {@code PublishFailed}, {@code DigestMismatch}; False {@code NoFailure}.
 *   <li>{@code Synced}: True {@code ReconcileSucceeded}; False {@code ReconcileError} (written by
 *       {@link ReconcileErrors} when reconciles keep failing).
 *   <li>{@code Reconciling} (Progressing True) and {@code Stalled} (Failed True), for kstatus.
 * </ul>
 */
public final class LoraJobStatusCalculator {

  public static final String PROGRESSING = "Progressing";
  public static final String SUSPENDED = "Suspended";
  public static final String COMPLETE = "Complete";
  public static final String FAILED = "Failed";

  /**
   * The Event a changed condition deserves: becoming True is news (a Warning for Failed); becoming
   * False is implied by another condition becoming True, so it gets none. Synced turning True again
   * gets none either (its turning False has its own Warning, from the error path).
   */
  public static Optional<String> eventType(Condition changed) {
    if (!Conditions.TRUE.equals(changed.getStatus())
        || Conditions.isKstatus(changed.getType())
        || ReconcileErrors.SYNCED.equals(changed.getType())) {
      return Optional.empty();
    }
    return Optional.of(
        FAILED.equals(changed.getType()) ? EventRecorder.WARNING : EventRecorder.NORMAL);
  }

  private LoraJobStatusCalculator() {}

  public static LoraJobStatus compute(
      LoraJob job, List<TrialStatus> trials, PublishOutcome publish, Instant now) {
    Objective objective =
        job.getSpec().getSweep() == null
            ? new Objective()
            : job.getSpec().getSweep().getObjective();
    int total = trials.size();
    int succeeded = count(trials, TrialPhase.SUCCEEDED);
    int failed = count(trials, TrialPhase.FAILED);
    int stopped = count(trials, TrialPhase.EARLY_STOPPED);
    int ended = succeeded + failed + stopped;
    int active = (int) trials.stream().filter(t -> TrialPhase.holdsSlot(t.getPhase())).count();
    boolean allDone = ended == total;
    Optional<TrialStatus> best =
        allDone ? BestTrialSelector.select(trials, objective) : Optional.empty();
    boolean suspended = Boolean.TRUE.equals(job.getSpec().getSuspend());

    Optional<Failure> failure =
        failure(trials, allDone, succeeded, best.isPresent(), publish, objective);
    boolean complete = publish.isPublished();
    boolean finished = complete || failure.isPresent();
    boolean paused = suspended && !finished;

    String running =
        ended
            + "/"
            + total
            + " trials finished, "
            + active
            + " active"
            + (stopped > 0 ? ", " + stopped + " stopped early" : "");
    List<Conditions.Desired> desired =
        Conditions.withKstatus(
            List.of(
                finished
                    ? new Conditions.Desired(
                        PROGRESSING,
                        false,
                        failure.isPresent() ? Reasons.FAILED : Reasons.FINISHED,
                        "no trial left to run")
                    : paused
                        ? new Conditions.Desired(PROGRESSING, false, Reasons.SUSPENDED, running)
                        : new Conditions.Desired(
                            PROGRESSING, true, Reasons.TRIALS_RUNNING, running),
                suspendedCondition(suspended, finished, Labels.isQueued(job)),
                complete
                    ? new Conditions.Desired(
                        COMPLETE,
                        true,
                        Reasons.VERSION_PUBLISHED,
                        "published version "
                            + publish.version()
                            + " of LoraAdapter "
                            + job.getSpec().getAdapter()
                            + best.map(b -> " from trial " + b.getName()).orElse(""))
                    : new Conditions.Desired(
                        COMPLETE,
                        false,
                        failure
                            .map(Failure::reason)
                            .orElse(
                                allDone
                                    ? Reasons.PUBLISHING
                                    : paused ? Reasons.SUSPENDED : Reasons.TRIALS_RUNNING),
                        failure
                            .map(Failure::message)
                            .orElse(
                                publish.isPublishing()
                                    ? "publishing version "
                                        + publish.claimed()
                                        + ": "
                                        + publish.message()
                                    : allDone ? "publishing the best trial" : running)),
                failure
                    .map(f -> new Conditions.Desired(FAILED, true, f.reason(), f.message()))
                    .orElse(
                        new Conditions.Desired(FAILED, false, Reasons.NO_FAILURE, "no failure")),
                ReconcileErrors.synced()),
            Conditions.is(PROGRESSING, true),
            Conditions.is(FAILED, true));

    LoraJobStatus status = new LoraJobStatus();
    LoraJobStatus previous = job.getStatus();
    status.setObservedGeneration(job.getMetadata().getGeneration());
    status.setConditions(
        Conditions.apply(
            previous == null ? null : previous.getConditions(),
            desired,
            job.getMetadata().getGeneration(),
            now));
    status.setPhase(
        failure.isPresent()
            ? "Failed"
            : complete
                ? "Succeeded"
                : paused ? "Suspended" : active > 0 || ended > 0 ? "Running" : "Pending");
    status.setProgress(ended + "/" + total);
    status.setTrialsTotal(total);
    status.setTrialsSucceeded(succeeded);
    status.setTrialsFailed(failed);
    status.setTrialsActive(active);
    status.setTrialsEarlyStopped(stopped);
    SweepProgress.Summary sweep =
        SweepProgress.summarize(
            trials,
            job.getSpec().getSweep() == null ? 1 : job.getSpec().getSweep().getParallelism(),
            job.getSpec().getResources() == null || job.getSpec().getResources().getGpus() == null
                ? 0
                : job.getSpec().getResources().getGpus());
    status.setPercentComplete(sweep.percentComplete());
    status.setEta(sweep.eta());
    status.setRunning(sweep.running());
    status.setEarlyStopping(sweep.earlyStopping());
    status.setTrials(trials);
    status.setBestTrial(best.map(b -> BestTrialSelector.describe(b, objective)).orElse(null));
    status.setPublishedVersion(publish.version());
    status.setRankAnalysis(publish.rankAnalysis());
    return status;
  }

  /**
   * What spec.suspend does, said the way it is done: without Kueue the operator suspends the trial
   * Jobs itself; under Kueue, which owns an admitted Job's spec.suspend, it deactivates their
   * Workloads and Kueue evicts them. A finished job has nothing left to pause.
   */
  static Conditions.Desired suspendedCondition(boolean suspend, boolean finished, boolean queued) {
    if (!suspend) {
      return new Conditions.Desired(
          SUSPENDED, false, Reasons.NOT_SUSPENDED, "spec.suspend is false");
    }
    if (finished) {
      return new Conditions.Desired(
          SUSPENDED,
          false,
          Reasons.FINISHED,
          "spec.suspend is true, but every trial has ended: nothing is left to suspend");
    }
    return new Conditions.Desired(
        SUSPENDED,
        true,
        Reasons.SUSPENDED,
        queued
            ? "spec.suspend is true: no trial Job is created, and the Kueue Workloads of existing"
                + " ones are deactivated (Kueue evicts running trials and admits no queued one)"
            : "spec.suspend is true: no trial Job is created, and running trial Jobs are"
                + " suspended (their pods are deleted; a resumed trial starts again)");
  }

  private record Failure(String reason, String message) {}

  private static Optional<Failure> failure(
      List<TrialStatus> trials,
      boolean allDone,
      int succeeded,
      boolean hasBest,
      PublishOutcome publish,
      Objective objective) {
    if (allDone && succeeded == 0) {
      String reasons =
          trials.stream()
              .map(t -> t.getName() + ": " + t.getReason())
              .collect(Collectors.joining(", "));
      return Optional.of(
          new Failure(
              Reasons.ALL_TRIALS_FAILED,
              "every trial failed (" + reasons + "); see status.trials[].message"));
    }
    if (allDone && !hasBest) {
      return Optional.of(
          new Failure(
              Reasons.NO_COMPARABLE_TRIAL,
              "no succeeded trial reported " + objective.getMetric() + ", the objective's metric"));
    }
    if (publish.isRefused()) {
      return Optional.of(new Failure(publish.reason(), publish.message()));
    }
    return Optional.empty();
  }

  private static int count(List<TrialStatus> trials, String phase) {
    return (int) trials.stream().filter(t -> phase.equals(t.getPhase())).count();
  }
}
