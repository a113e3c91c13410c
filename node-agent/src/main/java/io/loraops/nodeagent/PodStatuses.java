package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.HostIP;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Pod status as the kubelet reports it, from what the agent knows of the pod's one container. Pure:
 * the clock is passed in, and a condition's lastTransitionTime changes only when its status flips,
 * so an unchanged pod yields an equal status and no write.
 */
final class PodStatuses {
  private PodStatuses() {}

  /** The condition types the agent owns; others (set by controllers) are left alone. */
  static final List<String> CONDITION_TYPES =
      List.of("PodScheduled", "Initialized", "ContainersReady", "Ready");

  /** How one run of a container ended. */
  record Termination(
      int exitCode,
      String reason,
      String message,
      String startedAt,
      String finishedAt,
      String containerId) {}

  static ContainerStatus running(
      Container c,
      String containerId,
      int restartCount,
      boolean started,
      boolean ready,
      String startedAt,
      Termination last) {
    return base(c, restartCount, last)
        .withContainerID(containerId)
        .withStarted(started)
        .withReady(ready)
        .withState(new ContainerStateBuilder().withNewRunning(startedAt).build())
        .build();
  }

  static ContainerStatus waiting(
      Container c, int restartCount, String reason, String message, Termination last) {
    return base(c, restartCount, last)
        .withStarted(false)
        .withReady(false)
        .withState(new ContainerStateBuilder().withNewWaiting(message, reason).build())
        .build();
  }

  static ContainerStatus terminated(
      Container c, int restartCount, Termination end, Termination last) {
    return base(c, restartCount, last)
        .withContainerID(end.containerId())
        .withStarted(false)
        .withReady(false)
        .withState(terminatedState(end))
        .build();
  }

  private static ContainerStatusBuilder base(Container c, int restartCount, Termination last) {
    ContainerStatusBuilder b =
        new ContainerStatusBuilder()
            .withName(c.getName())
            .withImage(c.getImage())
            .withImageID("local://" + c.getImage())
            .withRestartCount(restartCount);
    if (last != null) {
      b.withLastState(terminatedState(last));
    }
    return b;
  }

  private static ContainerState terminatedState(Termination t) {
    return new ContainerStateBuilder()
        .withNewTerminated()
        .withContainerID(t.containerId())
        .withExitCode(t.exitCode())
        .withReason(t.reason())
        .withMessage(t.message() == null || t.message().isEmpty() ? null : t.message())
        .withStartedAt(t.startedAt())
        .withFinishedAt(t.finishedAt())
        .endTerminated()
        .build();
  }

  /**
   * The pod's status.
   *
   * @param podIp null while the pod has none
   * @param previous the status last written, for the conditions' transition times; may be null
   */
  static PodStatus status(
      String phase,
      String podIp,
      String startTime,
      ContainerStatus container,
      PodStatus previous,
      String now) {
    PodStatusBuilder b =
        new PodStatusBuilder()
            .withPhase(phase)
            .withHostIP(PodIps.HOST_IP)
            .withHostIPs(new HostIP(PodIps.HOST_IP))
            .withStartTime(startTime)
            .withConditions(
                conditions(
                    Boolean.TRUE.equals(container.getReady()),
                    previous == null ? null : previous.getConditions(),
                    now))
            .withContainerStatuses(container);
    if (podIp != null) {
      b.withPodIP(podIp).withPodIPs(new PodIP(podIp));
    }
    return b.build();
  }

  static List<PodCondition> conditions(boolean ready, List<PodCondition> previous, String now) {
    String r = ready ? "True" : "False";
    return List.of(
        condition("PodScheduled", "True", previous, now),
        condition("Initialized", "True", previous, now),
        condition("ContainersReady", r, previous, now),
        condition("Ready", r, previous, now));
  }

  private static PodCondition condition(
      String type, String status, List<PodCondition> previous, String now) {
    String since = now;
    if (previous != null) {
      for (PodCondition p : previous) {
        if (type.equals(p.getType())
            && status.equals(p.getStatus())
            && p.getLastTransitionTime() != null) {
          since = p.getLastTransitionTime();
        }
      }
    }
    return new PodConditionBuilder()
        .withType(type)
        .withStatus(status)
        .withLastTransitionTime(since)
        .build();
  }

  /**
   * {@code ours} written over {@code current}, the status on the server: the agent's fields
   * replace, conditions of other types (a controller's DisruptionTarget, ...) stay.
   */
  static PodStatus merge(PodStatus current, PodStatus ours) {
    List<PodCondition> conditions = new ArrayList<>(ours.getConditions());
    Set<String> owned = Set.copyOf(CONDITION_TYPES);
    if (current != null && current.getConditions() != null) {
      current.getConditions().stream()
          .filter(c -> !owned.contains(c.getType()))
          .forEach(conditions::add);
    }
    PodStatusBuilder b = current == null ? new PodStatusBuilder() : new PodStatusBuilder(current);
    return b.withPhase(ours.getPhase())
        .withHostIP(ours.getHostIP())
        .withHostIPs(ours.getHostIPs())
        .withPodIP(ours.getPodIP())
        .withPodIPs(ours.getPodIPs())
        .withStartTime(ours.getStartTime())
        .withConditions(conditions)
        .withContainerStatuses(ours.getContainerStatuses())
        .build();
  }
}
