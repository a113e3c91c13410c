package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.Rollout;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.api.v1alpha1.TargetStatus;
import io.loraops.operator.rollout.InferenceServer.Endpoint;
import io.loraops.operator.rollout.InferenceServer.ServerException;
import io.loraops.operator.rollout.ServingTargets.Target;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * The hotLoad loader: versions reach the pods through the servers' runtime adapter API.
 *
 * <p>What each pod serves is read from the pod itself ({@code GET /v1/models}) on every reconcile,
 * and nothing is loaded that is already loaded, so an operator restart at any point neither loses
 * the rollout's place (the step is in status) nor loads anything twice. Each version is loaded
 * under its immutable name ({@code support-bot-v4}); the alias ({@code support-bot}) is then
 * re-pointed with {@code load_inplace}, so clients of the alias move in one step per pod.
 *
 * <p>One rollout step: put the step's pods (per target) on the new version, then gate every one of
 * them: the server lists both names at the version's path, and a probe completion on the new name
 * is answered within the latency bound. A failing gate rolls every pod of every target back to the
 * previous serving version.
 */
public class HotLoadRollout implements Loader {
  private static final Logger LOG = Logger.getLogger(HotLoadRollout.class);

  private final InferenceServer server;

  public HotLoadRollout(InferenceServer server) {
    this.server = server;
  }

  /** A ready pod and what its server holds: served name -> path ({@code root}). */
  private static final class PodState {
    final String target;
    final Pod pod;
    final Endpoint endpoint;
    InferenceServer.Models served; // what /v1/models said; null while unreachable
    Map<String, String> loaded;
    String unreachable;
    String probed; // the passed probe's numbers, this reconcile

    PodState(String target, Pod pod, int port) {
      this.target = target;
      this.pod = pod;
      this.endpoint = Endpoint.of(pod, port);
    }
  }

  @Override
  public Outcome run(Request request, List<Target> targets) {
    List<PodState> pods = observe(request, targets);
    List<String> problems = new ArrayList<>();
    targets.stream().filter(t -> t.problem() != null).forEach(t -> problems.add(t.problem()));
    RolloutStatus rollout = Loader.copy(request.rollout());
    Integer serving = request.serving();
    Duration requeue = null;
    List<RolloutEvents.Event> events = new ArrayList<>();

    if (rollout != null && RolloutStatus.PROGRESSING.equals(rollout.getPhase())) {
      Advance advanced = advance(request, targets, pods, rollout, events);
      serving = advanced.serving;
      requeue = advanced.requeue;
      problems.addAll(advanced.problems);
    } else if (serving != null) {
      problems.addAll(heal(request, pods, serving));
    }
    boolean unreachable = pods.stream().anyMatch(p -> p.unreachable != null);
    if (requeue == null && (unreachable || !problems.isEmpty())) {
      requeue = Duration.ofSeconds(10);
    }
    Integer focus =
        rollout != null && RolloutStatus.PROGRESSING.equals(rollout.getPhase())
            ? rollout.getVersion()
            : serving;
    return new Outcome(
        serving, rollout, targetStatuses(request, targets, pods, focus), problems, requeue, events);
  }

  private List<PodState> observe(Request request, List<Target> targets) {
    List<PodState> pods = new ArrayList<>();
    for (Target target : targets) {
      for (Pod pod : target.readyPods()) {
        PodState state = new PodState(target.deployment(), pod, request.port());
        try {
          state.served = server.models(state.endpoint);
          state.loaded = new HashMap<>(state.served.adapters());
        } catch (ServerException e) {
          state.unreachable = e.getMessage();
          state.loaded = Map.of();
        }
        pods.add(state);
      }
    }
    return pods;
  }

  private record Advance(Integer serving, Duration requeue, List<String> problems) {}

  /**
   * Takes the rollout as far as its gates and pauses allow; a passed step adds to {@code events}.
   */
  private Advance advance(
      Request request,
      List<Target> targets,
      List<PodState> pods,
      RolloutStatus rollout,
      List<RolloutEvents.Event> events) {
    List<IntOrString> steps = RolloutSteps.normalize(request.spec().getSteps());
    rollout.setSteps(steps.size());
    int version = rollout.getVersion();
    while (true) {
      int stepIndex = Math.min(rollout.getStep(), steps.size() - 1);
      IntOrString step = steps.get(stepIndex);
      List<PodState> selected = new ArrayList<>();
      for (Target target : targets) {
        if (target.problem() != null) {
          continue;
        }
        List<PodState> ofTarget =
            pods.stream().filter(p -> p.target.equals(target.deployment())).toList();
        if (ofTarget.isEmpty()) {
          rollout.setMessage("waiting for ready pods of deployment " + target.deployment());
          return new Advance(request.serving(), WAIT, List.of());
        }
        selected.addAll(canaries(request, ofTarget, version, step));
      }
      if (selected.isEmpty()) {
        rollout.setMessage("waiting for a serving target");
        return new Advance(request.serving(), WAIT, List.of());
      }
      Optional<String> incompatible = incompatibility(request, targets, pods, version);
      if (incompatible.isPresent()) {
        rollout.setReason(RolloutStatus.INCOMPATIBLE_ADAPTER);
        List<String> incomplete = rollBack(request, pods, rollout, incompatible.get());
        return new Advance(request.serving(), null, incomplete);
      }
      // Pods outside the step keep serving the previous version; new ones get it now.
      List<String> problems = new ArrayList<>();
      if (rollout.getFromVersion() != null) {
        for (PodState pod : pods) {
          if (!selected.contains(pod) && pod.unreachable == null) {
            bringTo(request, pod, rollout.getFromVersion()).ifPresent(problems::add);
          }
        }
      }
      for (PodState pod : selected) {
        Optional<String> failure = bringTo(request, pod, version);
        if (failure.isEmpty()) {
          failure = gate(request, pod, version);
        }
        if (failure.isPresent()) {
          rollout.setReason(RolloutStatus.GATE_FAILED);
          List<String> incomplete = rollBack(request, pods, rollout, failure.get());
          settle(request, pod).ifPresent(incomplete::add);
          return new Advance(request.serving(), null, incomplete);
        }
      }
      if (rollout.getStepPassedAt() == null) {
        rollout.setStepPassedAt(request.now().toString());
        LOG.infof(
            "%s: version %d passed step %d/%d (%s) on %d pods",
            request.adapter(),
            version,
            stepIndex + 1,
            steps.size(),
            RolloutSteps.describe(step),
            selected.size());
      }
      if (stepIndex == steps.size() - 1) {
        problems.addAll(retire(request, pods, version));
        rollout.setPhase(RolloutStatus.SUCCEEDED);
        rollout.setFinishedAt(request.now().toString());
        rollout.setMessage(
            "version "
                + version
                + " is served on "
                + selected.size()
                + " pods"
                + numbers(selected));
        return new Advance(version, null, problems);
      }
      Duration paused = Duration.between(Instant.parse(rollout.getStepPassedAt()), request.now());
      Duration pause = Duration.ofSeconds(request.spec().getPauseSeconds());
      if (paused.compareTo(pause) < 0) {
        rollout.setMessage(
            RolloutSteps.describe(step)
                + " passed the gates"
                + numbers(selected)
                + "; pausing "
                + request.spec().getPauseSeconds()
                + "s before the next step");
        return new Advance(request.serving(), pause.minus(paused), problems);
      }
      events.add(RolloutEvents.stepPassed(version, stepIndex, steps, numbers(selected)));
      rollout.setStep(stepIndex + 1);
      rollout.setStepPassedAt(null);
      rollout.setMessage("loading " + describe(steps, stepIndex + 1));
    }
  }

  /**
   * Whether any reachable pod of any target cannot serve {@code version} (checked on every pod of
   * the rollout, not only the step's, before anything is loaded): the first reason found.
   */
  private Optional<String> incompatibility(
      Request request, List<Target> targets, List<PodState> pods, int version) {
    AdapterVersion record = request.versions().get(version);
    if (record == null) {
      return Optional.empty(); // bringTo names the missing record
    }
    for (Target target : targets) {
      Integer maxLoraRank = AdapterCompatibility.maxLoraRank(target.object(), request.container());
      for (PodState pod : pods) {
        if (pod.target.equals(target.deployment()) && pod.served != null) {
          Optional<String> reason = AdapterCompatibility.check(record, pod.served, maxLoraRank);
          if (reason.isPresent()) {
            return Optional.of(
                "deployment "
                    + target.deployment()
                    + " (pod "
                    + pod.endpoint.pod()
                    + ") cannot serve it: "
                    + reason.get());
          }
        }
      }
    }
    return Optional.empty();
  }

  /** The first passed probe's numbers among {@code pods}, as " (probe on ...)", or nothing. */
  private static String numbers(List<PodState> pods) {
    return pods.stream()
        .map(p -> p.probed)
        .filter(Objects::nonNull)
        .findFirst()
        .map(n -> " (" + n + ")")
        .orElse("");
  }

  private static String describe(List<IntOrString> steps, int index) {
    return RolloutSteps.describe(steps.get(index));
  }

  /**
   * The step's pods on one target: those already on the version first (a restarted operator keeps
   * its canaries), then by name, so the choice is stable from one reconcile to the next.
   */
  private List<PodState> canaries(
      Request request, List<PodState> ofTarget, int version, IntOrString step) {
    int count = RolloutSteps.podsFor(step, ofTarget.size());
    return ofTarget.stream()
        .sorted(
            Comparator.comparing((PodState p) -> !servesAlias(request, p, version))
                .thenComparing(p -> p.endpoint.pod()))
        .limit(count)
        .toList();
  }

  /** Loads the versioned name if missing and points the alias at it; the first failure, if any. */
  private Optional<String> bringTo(Request request, PodState pod, int version) {
    if (pod.unreachable != null) {
      return Optional.of(pod.unreachable);
    }
    ArtifactPaths.Resolved path = pathOf(request, pod, version);
    if (!path.ok()) {
      return Optional.of(
          "pod " + pod.endpoint.pod() + " cannot read version " + version + ": " + path.problem());
    }
    String name = ServedNames.versioned(request.adapter(), version);
    String alias = ServedNames.alias(request.adapter());
    try {
      if (!path.path().equals(pod.loaded.get(name))) {
        server.load(pod.endpoint, name, path.path(), pod.loaded.containsKey(name));
        pod.loaded.put(name, path.path());
        LOG.infof("%s: loaded %s on pod %s", request.adapter(), name, pod.endpoint.pod());
      }
      if (!path.path().equals(pod.loaded.get(alias))) {
        server.load(pod.endpoint, alias, path.path(), pod.loaded.containsKey(alias));
        pod.loaded.put(alias, path.path());
        LOG.infof(
            "%s: %s now serves %s on pod %s", request.adapter(), alias, name, pod.endpoint.pod());
      }
      return Optional.empty();
    } catch (ServerException e) {
      return Optional.of(e.getMessage());
    }
  }

  /** The gates: both names listed at the version's path, and a probe answered in time. */
  private Optional<String> gate(Request request, PodState pod, int version) {
    String path = pathOf(request, pod, version).path();
    String name = ServedNames.versioned(request.adapter(), version);
    String alias = ServedNames.alias(request.adapter());
    Rollout.Probe probe = request.spec().getProbe();
    try {
      Map<String, String> listed = server.models(pod.endpoint).adapters();
      if (!path.equals(listed.get(name)) || !path.equals(listed.get(alias))) {
        return Optional.of(
            "pod "
                + pod.endpoint.pod()
                + " does not list "
                + name
                + " and "
                + alias
                + " at "
                + path
                + " after loading (it lists "
                + listed
                + ")");
      }
    } catch (ServerException e) {
      return Optional.of(e.getMessage());
    }
    // The reference for the log-probability shift: the version serving now, else the base.
    String reference =
        request.serving() != null && request.serving() != version
            ? ServedNames.versioned(request.adapter(), request.serving())
            : pod.served == null ? null : pod.served.baseId();
    ProbeGate.Verdict verdict = ProbeGate.probe(server, pod.endpoint, name, reference, probe);
    pod.probed = verdict.numbers();
    return verdict.failure();
  }

  /** How many completions {@link #settle} may send before it gives up. */
  static final int SETTLE_ATTEMPTS = 6;

  /**
   * After a failed gate, asks the pod's base model the probe prompt until two answers in a row pass
   * the probe gate and agree, at most {@link #SETTLE_ATTEMPTS} times; what is wrong if they never
   * do. vLLM's CPU build leaves state behind after a request that computed NaN: the next one or two
   * completions on that server, for any model and prompt, come out empty or cut short. The rollback
   * is not done until the server answers as before.
   */
  private Optional<String> settle(Request request, PodState pod) {
    if (pod.unreachable != null || pod.served == null || pod.served.baseId() == null) {
      return Optional.empty();
    }
    Rollout.Probe probe = request.spec().getProbe();
    String base = pod.served.baseId();
    String previous = null;
    for (int attempt = 0; attempt < SETTLE_ATTEMPTS; attempt++) {
      String answer = null;
      try {
        InferenceServer.Answer a =
            server.complete(
                pod.endpoint,
                base,
                probe.getPrompt(),
                probe.getMaxTokens(),
                Duration.ofMillis(probe.getLatencyBoundMillis()));
        if (ProbeGate.judge(pod.endpoint.pod(), base, a, probe).isEmpty()) {
          answer = a.text() + " " + a.logprobs();
        }
      } catch (ServerException e) {
        // not settled yet
      }
      if (answer != null && answer.equals(previous)) {
        return Optional.empty();
      }
      previous = answer;
    }
    return Optional.of(
        "pod "
            + pod.endpoint.pod()
            + ": the base model "
            + base
            + " did not answer the probe prompt the same way twice in "
            + SETTLE_ATTEMPTS
            + " tries after the failed gate");
  }

  /**
   * Every pod back to the previous serving version (or, without one, to no alias), and the failed
   * version unloaded. Returns what could not be undone; the steady state heals it later.
   */
  private List<String> rollBack(
      Request request, List<PodState> pods, RolloutStatus rollout, String failure) {
    LOG.warnf("%s: rolling back version %d: %s", request.adapter(), rollout.getVersion(), failure);
    List<String> problems = new ArrayList<>();
    Integer previous = rollout.getFromVersion();
    String failedName = ServedNames.versioned(request.adapter(), rollout.getVersion());
    String alias = ServedNames.alias(request.adapter());
    for (PodState pod : pods) {
      if (pod.unreachable != null) {
        continue;
      }
      try {
        if (previous != null) {
          bringTo(request, pod, previous).ifPresent(problems::add);
        } else if (pod.loaded.containsKey(alias)) {
          server.unload(pod.endpoint, alias);
          pod.loaded.remove(alias);
        }
        if (pod.loaded.containsKey(failedName)) {
          server.unload(pod.endpoint, failedName);
          pod.loaded.remove(failedName);
        }
      } catch (ServerException e) {
        problems.add("rollback on pod " + pod.endpoint.pod() + ": " + e.getMessage());
      }
    }
    rollout.setPhase(RolloutStatus.ROLLED_BACK);
    rollout.setFinishedAt(request.now().toString());
    rollout.setMessage(failure);
    return problems;
  }

  /** Unloads this adapter's other versioned names once {@code version} serves everywhere. */
  private List<String> retire(Request request, List<PodState> pods, int version) {
    List<String> problems = new ArrayList<>();
    for (PodState pod : pods) {
      if (pod.unreachable != null) {
        continue;
      }
      for (String name : List.copyOf(pod.loaded.keySet())) {
        Optional<Integer> v = ServedNames.versionOf(request.adapter(), name);
        if (v.isPresent() && v.get() != version) {
          try {
            server.unload(pod.endpoint, name);
            pod.loaded.remove(name);
          } catch (ServerException e) {
            problems.add("retiring " + name + ": " + e.getMessage());
          }
        }
      }
    }
    return problems;
  }

  /**
   * The steady state: every ready pod serves the serving version under both names (pods that
   * started since the rollout, or whose server restarted, get it now) and nothing else of this
   * adapter.
   */
  private List<String> heal(Request request, List<PodState> pods, int serving) {
    List<String> problems = new ArrayList<>();
    for (PodState pod : pods) {
      if (pod.unreachable != null) {
        continue; // its readiness will change, or the next look finds it answering
      }
      bringTo(request, pod, serving).ifPresent(problems::add);
    }
    problems.addAll(retire(request, pods, serving));
    return problems;
  }

  private boolean servesAlias(Request request, PodState pod, int version) {
    ArtifactPaths.Resolved path = pathOf(request, pod, version);
    return path.ok() && path.path().equals(pod.loaded.get(ServedNames.alias(request.adapter())));
  }

  private ArtifactPaths.Resolved pathOf(Request request, PodState pod, int version) {
    AdapterVersion v = request.versions().get(version);
    if (v == null) {
      return new ArtifactPaths.Resolved(null, "version " + version + " has no record");
    }
    return ArtifactPaths.inPod(pod.pod.getSpec(), request.container(), v.getArtifactUri());
  }

  private List<TargetStatus> targetStatuses(
      Request request, List<Target> targets, List<PodState> pods, Integer focus) {
    List<TargetStatus> result = new ArrayList<>();
    for (Target target : targets) {
      List<PodState> ofTarget =
          pods.stream().filter(p -> p.target.equals(target.deployment())).toList();
      TargetStatus status = new TargetStatus();
      status.setDeployment(target.deployment());
      status.setPort(request.port());
      status.setPodsTotal(target.pods().size());
      status.setPodsReady(ofTarget.size());
      status.setPodsUpdated(
          focus == null
              ? 0
              : (int) ofTarget.stream().filter(p -> servesAlias(request, p, focus)).count());
      status.setServingVersion(commonVersion(request, ofTarget));
      status.setMessage(
          target.problem() != null
              ? target.problem()
              : ofTarget.stream()
                  .filter(p -> p.unreachable != null)
                  .map(p -> p.unreachable)
                  .findFirst()
                  .orElse(null));
      result.add(status);
    }
    return result;
  }

  /** The version the alias serves on every ready pod of a target, if they agree. */
  private Integer commonVersion(Request request, List<PodState> pods) {
    if (pods.isEmpty()) {
      return null;
    }
    Integer common = null;
    for (PodState pod : pods) {
      Integer served = null;
      for (Integer version : request.versions().keySet()) {
        if (servesAlias(request, pod, version)) {
          served = version;
          break;
        }
      }
      if (served == null || (common != null && !common.equals(served))) {
        return null;
      }
      common = served;
    }
    return common;
  }
}
