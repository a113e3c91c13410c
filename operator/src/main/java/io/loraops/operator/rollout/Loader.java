package io.loraops.operator.rollout;

import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.Rollout;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.api.v1alpha1.TargetStatus;
import io.loraops.operator.rollout.ServingTargets.Target;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * How versions reach the pods of the serving targets: {@link HotLoadRollout} through the servers'
 * runtime adapter API, {@link RestartRollout} through the pod template. One reconcile calls {@link
 * #run} once: it reads what the pods serve, takes the rollout one step further if it can (or rolls
 * it back), heals pods that lack the serving version, and says what to record and when to look
 * again. Everything it needs comes in the {@link Request}; the rollout's place lives in status, so
 * a restarted operator continues where it was.
 */
public interface Loader {
  /** How soon to look again while waiting for pods. */
  Duration WAIT = Duration.ofSeconds(3);

  /** What the rollout needs to know about the adapter. */
  record Request(
      String adapter,
      Integer serving,
      RolloutStatus rollout,
      Rollout spec,
      Map<Integer, AdapterVersion> versions,
      int port,
      String container,
      Instant now) {}

  /**
   * The state to record, when to look again (null: when something changes), and what the run did
   * that deserves an Event of its own (a passed canary step, with its gate's numbers).
   */
  record Outcome(
      Integer serving,
      RolloutStatus rollout,
      List<TargetStatus> targets,
      List<String> problems,
      Duration requeue,
      List<RolloutEvents.Event> events) {
    public Outcome(
        Integer serving,
        RolloutStatus rollout,
        List<TargetStatus> targets,
        List<String> problems,
        Duration requeue) {
      this(serving, rollout, targets, problems, requeue, List.of());
    }
  }

  Outcome run(Request request, List<Target> targets);

  /** A copy of {@code s} to change (null stays null). */
  static RolloutStatus copy(RolloutStatus s) {
    if (s == null) {
      return null;
    }
    RolloutStatus c = new RolloutStatus();
    c.setVersion(s.getVersion());
    c.setFromVersion(s.getFromVersion());
    c.setPhase(s.getPhase());
    c.setStep(s.getStep());
    c.setSteps(s.getSteps());
    c.setGeneration(s.getGeneration());
    c.setStartedAt(s.getStartedAt());
    c.setStepPassedAt(s.getStepPassedAt());
    c.setFinishedAt(s.getFinishedAt());
    c.setMessage(s.getMessage());
    c.setReason(s.getReason());
    return c;
  }
}
