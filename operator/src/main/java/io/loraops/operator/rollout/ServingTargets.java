package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.Comparator;
import java.util.List;

/** A target Deployment as observed: its pods, and the ones a server can be asked on. */
public final class ServingTargets {
  private ServingTargets() {}

  /** One Deployment and its pods (or why it cannot be served). */
  public record Target(String deployment, Deployment object, List<Pod> pods, String problem) {

    public List<Pod> readyPods() {
      return pods.stream()
          .filter(ServingTargets::servable)
          .sorted(Comparator.comparing(p -> p.getMetadata().getName()))
          .toList();
    }
  }

  /** Ready, not being deleted, and with an IP to reach its server on. */
  public static boolean servable(Pod pod) {
    if (pod.getMetadata().getDeletionTimestamp() != null
        || pod.getStatus() == null
        || pod.getStatus().getPodIP() == null
        || pod.getStatus().getConditions() == null) {
      return false;
    }
    for (PodCondition c : pod.getStatus().getConditions()) {
      if ("Ready".equals(c.getType())) {
        return "True".equals(c.getStatus());
      }
    }
    return false;
  }
}
