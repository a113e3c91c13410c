package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.loraops.operator.api.v1alpha1.TargetStatus;
import io.loraops.operator.rollout.InferenceServer.Endpoint;
import io.loraops.operator.rollout.InferenceServer.ServerException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * Takes an adapter off a Deployment that no longer serves it (dropped from spec.serving, or the
 * LoraAdapter deleted): each ready pod unloads the alias and every versioned name of the adapter,
 * so nothing keeps answering under a name the operator no longer manages.
 *
 * <p>Deployments the restart loader wrote are left as they are: their server command reads the
 * version from the env the operator wrote, and taking that env away would break the command. Their
 * pods keep the last version until the Deployment itself is changed.
 */
public class Withdrawal {
  private static final Logger LOG = Logger.getLogger(Withdrawal.class);

  private final InferenceServer server;

  public Withdrawal(InferenceServer server) {
    this.server = server;
  }

  /** Entries of the previous status whose Deployment is no longer a target. */
  public static List<TargetStatus> dropped(List<TargetStatus> previous, Set<String> targets) {
    return previous == null
        ? List.of()
        : previous.stream().filter(t -> !targets.contains(t.getDeployment())).toList();
  }

  /** Whether the operator loaded the adapter through the API here (not the restart loader). */
  public static boolean hotLoaded(Deployment deployment, String adapter) {
    return RestartTemplate.versionIn(deployment.getSpec().getTemplate(), adapter).isEmpty();
  }

  /** The adapter's names among {@code served}: the alias and every versioned name. */
  static List<String> namesOf(String adapter, Collection<String> served) {
    return served.stream()
        .filter(
            n ->
                n.equals(ServedNames.alias(adapter))
                    || ServedNames.versionOf(adapter, n).isPresent())
        .sorted()
        .toList();
  }

  /**
   * Unloads the adapter from every ready pod in {@code pods}; returns what could not be done (a pod
   * that does not answer keeps its entry in status and is tried again).
   */
  public List<String> withdraw(String adapter, String deployment, List<Pod> pods, int port) {
    List<String> problems = new ArrayList<>();
    for (Pod pod : pods.stream().filter(ServingTargets::servable).toList()) {
      Endpoint endpoint = Endpoint.of(pod, port);
      try {
        for (String name : namesOf(adapter, server.models(endpoint).adapters().keySet())) {
          server.unload(endpoint, name);
          LOG.infof(
              "%s: unloaded %s from pod %s of deployment %s",
              adapter, name, endpoint.pod(), deployment);
        }
      } catch (ServerException e) {
        problems.add(e.getMessage());
      }
    }
    return problems;
  }
}
