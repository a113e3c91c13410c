package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.status.Reasons;
import io.loraops.operator.support.EventRecorder;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What changed between two rollout states, as Events and as the end of a rollout (for the metrics).
 * A rollback needs no Event of its own: the Degraded condition turning True makes one.
 */
public final class RolloutEvents {
  private RolloutEvents() {}

  public record Event(String type, String reason, String message) {}

  /** A rollout that ended in this transition: its result label and duration. */
  public record Finished(String result, Duration took) {}

  public static List<Event> between(RolloutStatus before, RolloutStatus after) {
    List<Event> events = new ArrayList<>();
    if (after == null) {
      return events;
    }
    boolean sameRollout =
        before != null && Objects.equals(before.getStartedAt(), after.getStartedAt());
    if (!sameRollout) {
      events.add(
          new Event(
              EventRecorder.NORMAL,
              Reasons.ROLLOUT_STARTED,
              "rolling out version "
                  + after.getVersion()
                  + (after.getFromVersion() == null
                      ? ""
                      : " (serving version " + after.getFromVersion() + " until it passes)")));
    }
    boolean justSucceeded =
        RolloutStatus.SUCCEEDED.equals(after.getPhase())
            && !(sameRollout && RolloutStatus.SUCCEEDED.equals(before.getPhase()));
    if (justSucceeded) {
      events.add(new Event(EventRecorder.NORMAL, Reasons.ROLLOUT_SUCCEEDED, after.getMessage()));
    }
    return events;
  }

  /**
   * A canary step that passed its gates and whose pause is over: made by the loader that ran the
   * gates, since only it has the probe's numbers ({@code numbers}: " (probe ...)" or empty).
   */
  public static Event stepPassed(
      int version, int stepIndex, List<IntOrString> steps, String numbers) {
    return new Event(
        EventRecorder.NORMAL,
        Reasons.ROLLOUT_STEP,
        "version "
            + version
            + ": step "
            + (stepIndex + 1)
            + "/"
            + steps.size()
            + " ("
            + RolloutSteps.describe(steps.get(stepIndex))
            + ") passed its gates"
            + numbers
            + "; on to step "
            + (stepIndex + 2));
  }

  public static Optional<Finished> finished(RolloutStatus before, RolloutStatus after) {
    if (after == null || after.getFinishedAt() == null || after.getStartedAt() == null) {
      return Optional.empty();
    }
    boolean sameRollout =
        before != null && Objects.equals(before.getStartedAt(), after.getStartedAt());
    if (sameRollout && before.getFinishedAt() != null) {
      return Optional.empty();
    }
    String result = RolloutStatus.SUCCEEDED.equals(after.getPhase()) ? "succeeded" : "rolled_back";
    return Optional.of(
        new Finished(
            result,
            Duration.between(
                Instant.parse(after.getStartedAt()), Instant.parse(after.getFinishedAt()))));
  }
}
