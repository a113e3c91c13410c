package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.api.v1alpha1.TargetStatus;
import io.loraops.operator.rollout.InferenceServer.Endpoint;
import io.loraops.operator.rollout.InferenceServer.ServerException;
import io.loraops.operator.rollout.ServingTargets.Target;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * The restart loader: the version goes into each target's pod template ({@link RestartTemplate})
 * and the Deployment's own rolling update replaces the pods, at the pace its strategy sets. Gates:
 * the rollout completes (every replica updated and ready), every new pod's server lists the
 * version, and a probe completion is answered in time. New pods crash-looping, a Deployment past
 * its progress deadline, or a failed probe roll the templates back to the previous version.
 */
public class RestartRollout implements Loader {
  private static final Logger LOG = Logger.getLogger(RestartRollout.class);

  private final KubernetesClient client;
  private final InferenceServer server;

  public RestartRollout(KubernetesClient client, InferenceServer server) {
    this.client = client;
    this.server = server;
  }

  @Override
  public Outcome run(Request request, List<Target> targets) {
    RolloutStatus rollout = Loader.copy(request.rollout());
    Integer serving = request.serving();
    List<String> problems = new ArrayList<>();
    targets.stream().filter(t -> t.problem() != null).forEach(t -> problems.add(t.problem()));
    boolean inProgress = rollout != null && RolloutStatus.PROGRESSING.equals(rollout.getPhase());
    Integer focus = inProgress ? rollout.getVersion() : serving;
    Duration requeue = null;

    // A version that cannot go into a template fails the rollout; outside one it is a problem.
    Optional<String> failure = Optional.empty();
    if (focus != null) {
      for (Target target : targets) {
        if (target.problem() == null) {
          Optional<String> unwritten = write(request, target, focus);
          if (inProgress) {
            failure = failure.or(() -> unwritten);
          } else {
            unwritten.ifPresent(problems::add);
          }
        }
      }
    }
    if (inProgress) {
      rollout.setSteps(1);
      boolean done = true;
      boolean gated = false; // with every target missing there is nothing to call done
      for (Target target : targets) {
        if (target.problem() != null || failure.isPresent()) {
          continue;
        }
        gated = true;
        Gate gate = gate(request, target, rollout.getVersion());
        failure = failure.or(() -> gate.failure);
        done &= gate.done;
        if (!gate.done && gate.failure.isEmpty()) {
          rollout.setMessage(gate.waiting);
        }
      }
      if (failure.isPresent()) {
        LOG.warnf(
            "%s: rolling back version %d: %s",
            request.adapter(), rollout.getVersion(), failure.get());
        for (Target target : targets) {
          if (target.problem() == null) {
            write(request, target, rollout.getFromVersion()).ifPresent(problems::add);
          }
        }
        rollout.setPhase(RolloutStatus.ROLLED_BACK);
        rollout.setReason(RolloutStatus.GATE_FAILED);
        rollout.setFinishedAt(request.now().toString());
        rollout.setMessage(failure.get());
        focus = rollout.getFromVersion();
      } else if (done && gated) {
        serving = rollout.getVersion();
        rollout.setPhase(RolloutStatus.SUCCEEDED);
        rollout.setFinishedAt(request.now().toString());
        rollout.setStepPassedAt(request.now().toString());
        rollout.setMessage("version " + serving + " is served after a rolling restart");
      } else {
        if (!gated) {
          rollout.setMessage("waiting for a serving target");
        }
        requeue = WAIT;
      }
    }
    List<TargetStatus> statuses = new ArrayList<>();
    for (Target target : targets) {
      TargetStatus status = status(target, request.adapter(), focus);
      status.setPort(request.port());
      statuses.add(status);
    }
    if (requeue == null && !problems.isEmpty()) {
      requeue = Duration.ofSeconds(10);
    }
    return new Outcome(serving, rollout, statuses, problems, requeue);
  }

  /** Puts {@code version} (or no version) into the Deployment's template, if not there yet. */
  private Optional<String> write(Request request, Target target, Integer version) {
    Deployment current = target.object();
    String path = null;
    if (version != null) {
      AdapterVersion record = request.versions().get(version);
      if (record == null) {
        return Optional.of("version " + version + " has no record");
      }
      ArtifactPaths.Resolved resolved =
          ArtifactPaths.inPod(
              current.getSpec().getTemplate().getSpec(),
              request.container(),
              record.getArtifactUri());
      if (!resolved.ok()) {
        return Optional.of("deployment " + target.deployment() + ": " + resolved.problem());
      }
      path = resolved.path();
    }
    Deployment desired =
        new io.fabric8.kubernetes.api.model.apps.DeploymentBuilder(current).build();
    if (!RestartTemplate.apply(
        desired.getSpec().getTemplate(), request.container(), request.adapter(), version, path)) {
      return Optional.empty();
    }
    String finalPath = path;
    client
        .apps()
        .deployments()
        .inNamespace(current.getMetadata().getNamespace())
        .withName(current.getMetadata().getName())
        .edit(
            d -> {
              RestartTemplate.apply(
                  d.getSpec().getTemplate(),
                  request.container(),
                  request.adapter(),
                  version,
                  finalPath);
              return d;
            });
    LOG.infof(
        "%s: wrote version %s into deployment %s", request.adapter(), version, target.deployment());
    return Optional.empty();
  }

  private record Gate(boolean done, Optional<String> failure, String waiting) {}

  private Gate gate(Request request, Target target, int version) {
    Deployment d = target.object();
    String name = target.deployment();
    for (DeploymentCondition c :
        d.getStatus() == null || d.getStatus().getConditions() == null
            ? List.<DeploymentCondition>of()
            : d.getStatus().getConditions()) {
      if ("Progressing".equals(c.getType()) && "ProgressDeadlineExceeded".equals(c.getReason())) {
        return new Gate(false, Optional.of("deployment " + name + ": " + c.getMessage()), null);
      }
    }
    List<Pod> updated =
        target.pods().stream().filter(p -> carries(p, request.adapter(), version)).toList();
    for (Pod pod : updated) {
      for (ContainerStatus cs :
          pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null
              ? List.<ContainerStatus>of()
              : pod.getStatus().getContainerStatuses()) {
        boolean crashLooping =
            cs.getState() != null
                && cs.getState().getWaiting() != null
                && "CrashLoopBackOff".equals(cs.getState().getWaiting().getReason());
        if (crashLooping || cs.getRestartCount() != null && cs.getRestartCount() >= 2) {
          return new Gate(
              false,
              Optional.of(
                  "pod "
                      + pod.getMetadata().getName()
                      + " with version "
                      + version
                      + " keeps restarting (restarts: "
                      + cs.getRestartCount()
                      + ")"),
              null);
        }
      }
    }
    int replicas = Objects.requireNonNullElse(d.getSpec().getReplicas(), 1);
    var s = d.getStatus();
    boolean rolledOut =
        s != null
            && Objects.equals(s.getObservedGeneration(), d.getMetadata().getGeneration())
            && Objects.requireNonNullElse(s.getUpdatedReplicas(), 0) == replicas
            && Objects.requireNonNullElse(s.getReadyReplicas(), 0) == replicas
            && Objects.requireNonNullElse(s.getReplicas(), 0) == replicas;
    List<Pod> ready = updated.stream().filter(ServingTargets::servable).toList();
    if (!rolledOut || ready.size() < replicas) {
      return new Gate(
          false,
          Optional.empty(),
          "deployment "
              + name
              + ": "
              + ready.size()
              + "/"
              + replicas
              + " pods ready with version "
              + version);
    }
    String served = ServedNames.versioned(request.adapter(), version);
    String base;
    for (Pod pod : ready) {
      Endpoint endpoint = Endpoint.of(pod, request.port());
      try {
        InferenceServer.Models models = server.models(endpoint);
        base = models.baseId();
        Map<String, String> listed = models.adapters();
        if (!listed.containsKey(served)) {
          return new Gate(
              false,
              Optional.of(
                  "pod "
                      + pod.getMetadata().getName()
                      + " does not list "
                      + served
                      + "; does its command pass $("
                      + RestartTemplate.envPrefix(request.adapter())
                      + "_NAME)=$("
                      + RestartTemplate.envPrefix(request.adapter())
                      + "_PATH) to the server?"),
              null);
        }
      } catch (ServerException e) {
        return new Gate(false, Optional.of(e.getMessage()), null);
      }
      // a restarted pod serves one version: the base model is the reference
      Optional<String> probed =
          ProbeGate.probe(server, endpoint, served, base, request.spec().getProbe()).failure();
      if (probed.isPresent()) {
        return new Gate(false, probed, null);
      }
    }
    return new Gate(true, Optional.empty(), null);
  }

  private static TargetStatus status(Target target, String adapter, Integer focus) {
    List<Pod> ready = target.readyPods();
    TargetStatus status = new TargetStatus();
    status.setDeployment(target.deployment());
    status.setPodsTotal(target.pods().size());
    status.setPodsReady(ready.size());
    status.setPodsUpdated((int) ready.stream().filter(p -> carries(p, adapter, focus)).count());
    Integer common = !ready.isEmpty() && status.getPodsUpdated() == ready.size() ? focus : null;
    status.setServingVersion(common);
    status.setMessage(target.problem());
    return status;
  }

  /** Whether the pod was started from a template carrying {@code version}. */
  private static boolean carries(Pod pod, String adapter, Integer version) {
    return version != null
        && RestartTemplate.versionIn(pod.getMetadata(), adapter).equals(Optional.of(version));
  }
}
