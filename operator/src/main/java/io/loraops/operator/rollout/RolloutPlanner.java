package io.loraops.operator.rollout;

import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/** Whether a rollout starts, as a pure function of what is served, wanted and already tried. */
public final class RolloutPlanner {
  private RolloutPlanner() {}

  /**
   * The rollout to run now: the one in progress, a new one when the desired version differs from
   * the serving one, or {@code current} unchanged (none in progress, nothing to do, or the desired
   * version was already rolled back for this generation, so it is not retried in a loop).
   *
   * <p>A rollout in progress towards a version that is no longer desired is superseded by a new one
   * that starts from the serving version, which is still the rollback target.
   *
   * <p>A rolled-back version is retried only after the spec changes (a new generation: the user
   * fixed a probe, a key, a mount, or re-pinned); following latest, a newer version starts its own
   * rollout anyway.
   *
   * @param notBetter why a latest version is held back by requireLowerEvalLoss, if it is
   */
  public static RolloutStatus next(
      RolloutStatus current,
      Integer serving,
      Integer desired,
      long generation,
      Optional<String> notBetter,
      int steps,
      Instant now) {
    if (desired == null) {
      return current;
    }
    boolean inProgress = current != null && RolloutStatus.PROGRESSING.equals(current.getPhase());
    if (inProgress && desired.equals(current.getVersion())) {
      return current;
    }
    if (!inProgress && desired.equals(serving)) {
      return current;
    }
    if (!inProgress
        && current != null
        && RolloutStatus.ROLLED_BACK.equals(current.getPhase())
        && desired.equals(current.getVersion())
        && Objects.equals(current.getGeneration(), generation)) {
      return current;
    }
    if (notBetter.isPresent() && !inProgress) {
      return current;
    }
    RolloutStatus started = new RolloutStatus();
    started.setVersion(desired);
    started.setFromVersion(serving);
    started.setPhase(RolloutStatus.PROGRESSING);
    started.setStep(0);
    started.setSteps(steps);
    started.setGeneration(generation);
    started.setStartedAt(now.toString());
    started.setMessage("started");
    return started;
  }

  /**
   * With requireLowerEvalLoss, why {@code candidate} is not promoted over {@code serving}; empty
   * when it may be (no serving version, or either eval loss unknown counts as not comparable and
   * holds the candidate back only if the candidate's is unknown).
   */
  public static Optional<String> notBetter(AdapterVersion candidate, AdapterVersion serving) {
    if (serving == null || candidate.getVersion().equals(serving.getVersion())) {
      return Optional.empty();
    }
    Double next = evalLoss(candidate);
    Double now = evalLoss(serving);
    if (next == null) {
      return Optional.of(
          "version " + candidate.getVersion() + " has no evalLoss to compare; not promoted");
    }
    if (now != null && next >= now) {
      return Optional.of(
          "version "
              + candidate.getVersion()
              + " evalLoss "
              + next
              + " is not lower than serving version "
              + serving.getVersion()
              + "'s "
              + now
              + "; not promoted");
    }
    return Optional.empty();
  }

  private static Double evalLoss(AdapterVersion v) {
    return v.getMetrics() == null ? null : v.getMetrics().getEvalLoss();
  }
}
