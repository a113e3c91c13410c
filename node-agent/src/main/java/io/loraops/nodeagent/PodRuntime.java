package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.loraops.nodeagent.PodStatuses.Termination;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The life of one pod on this node, from its start to its final status: runs its container, runs it
 * again after it exits as the restartPolicy says (with the kubelet's back-off, see {@link
 * Restarts}), follows its startup, readiness and liveness probes, stops it when the pod is deleted,
 * and says which status to report.
 *
 * <p>Owned by the agent's sync thread: every method runs there, probe threads hand their results
 * over to it ({@link #onProbe}); only {@link #running()} and {@link #dirName()} may be called from
 * elsewhere.
 */
final class PodRuntime {

  private static final Logger LOG = LoggerFactory.getLogger(PodRuntime.class);

  /** Longest a stopping container gets between SIGTERM and SIGKILL: local runs need no 30s. */
  static final Duration MAX_GRACE = Duration.ofSeconds(10);

  /** Prepares the pod's container to run with the pod's IP (volumes, command line, env). */
  interface Preparer {
    PodProcess prepare(Pod pod, String podIp) throws IOException, PodProcess.Unrunnable;
  }

  /** Schedules the probes of one run; the tasks are cancelled when the run ends. */
  interface ProbeStarter {
    Map<ProbeSpec.Kind, Future<?>> start(
        PodRuntime pod, PodProcess.Run run, List<ProbeSpec> probes, Prober.Target target);
  }

  final Pod pod;
  final String uid;
  final String ip;
  private final Container container;
  private final String restartPolicy;
  private final List<ProbeSpec> probes;
  private final Preparer preparer;
  private final ProbeStarter probeStarter;

  private PodProcess prepared;
  private volatile PodProcess.Run current;

  /** Runs launched so far, failed starts included; the restart count is one less. */
  private int launches;

  /** Restarts in a row, for the back-off; failed preparations in a row, before the first run. */
  private int inARow;

  /** When to start the container again, while nothing runs and the pod is not done. */
  private Instant nextAttempt;

  private String waitingReason;
  private String waitingMessage;
  private Termination last;
  private Termination end;
  private boolean stopping;
  private final String startTime;
  private boolean started;
  private boolean ready;
  private final Map<ProbeSpec.Kind, ProbeSpec.State> probeStates =
      new EnumMap<>(ProbeSpec.Kind.class);
  private Map<ProbeSpec.Kind, Future<?>> probeTasks = Map.of();

  /** The status last written to the API server; null before the first write. */
  PodStatus lastWritten;

  PodRuntime(Pod pod, String ip, Instant now, Preparer preparer, ProbeStarter probeStarter) {
    this.pod = pod;
    this.uid = pod.getMetadata().getUid();
    this.ip = ip;
    this.container = pod.getSpec().getContainers().get(0);
    this.restartPolicy = pod.getSpec().getRestartPolicy();
    this.probes = ProbeSpec.of(container);
    this.preparer = preparer;
    this.probeStarter = probeStarter;
    this.startTime = now.toString();
  }

  /** {@code <namespace>/<name>}, for messages. */
  String name() {
    return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
  }

  /** The pod's folder name under the agent's pods folder. */
  String dirName() {
    return pod.getMetadata().getNamespace() + "_" + pod.getMetadata().getName();
  }

  /** Whether the container's process runs now. Any thread. */
  boolean running() {
    PodProcess.Run run = current;
    return run != null && run.alive();
  }

  boolean stopping() {
    return stopping;
  }

  /** The run in progress; null while none. Any thread. */
  PodProcess.Run current() {
    return current;
  }

  /** Whether the pod has its final status: nothing will run any more. */
  boolean done() {
    return end != null || (stopping && current == null);
  }

  /** Starts the container the first time. */
  void start(Instant now) {
    attemptStart(now);
  }

  /**
   * Moves the pod on: reaps a run that exited and restarts it (now or after the back-off) or
   * finishes the pod; kills a run that outgrew its memory limit or its grace period.
   */
  void tick(Instant now) {
    if (end != null) {
      return;
    }
    PodProcess.Run run = current;
    if (run != null) {
      run.enforceGracePeriod(now);
      if (run.alive()) {
        if (run.check()) {
          LOG.info("pod {} exceeded its memory limit: killed its container", name());
        }
        return;
      }
      run.killLeftovers();
      Termination t = run.termination(prepared, now);
      LOG.info("pod {}: container exited {} ({})", name(), t.exitCode(), t.reason());
      exited(t, now, Duration.between(run.startedAt, now));
    } else if (!stopping && nextAttempt != null && !now.isBefore(nextAttempt)) {
      attemptStart(now);
    }
  }

  /**
   * Stops the pod for good (it was deleted): SIGTERM to its container now, SIGKILL after {@code
   * grace}; no restart.
   */
  void stop(Instant now, Duration grace) {
    if (stopping) {
      return;
    }
    stopping = true;
    nextAttempt = null;
    ready = false;
    cancelProbes();
    PodProcess.Run run = current;
    if (run != null) {
      run.stop(now, grace);
    } else {
      end = last;
    }
  }

  /**
   * One probe check's result, handed over from a probe thread. Returns true when the status to
   * report may have changed.
   */
  boolean onProbe(ProbeSpec spec, PodProcess.Run run, Prober.Result result, Instant now) {
    if (run != current || stopping || run.stopping() || !run.alive()) {
      return false; // a result about a run that has ended, or is ending
    }
    if (spec.kind() != ProbeSpec.Kind.STARTUP && !started) {
      return false; // readiness and liveness count once the startup probe succeeded
    }
    ProbeSpec.State state = probeStates.get(spec.kind());
    if (!state.record(result.success())) {
      return false;
    }
    String failure = spec.kind().display + " probe failed: " + result.message();
    switch (spec.kind()) {
      case STARTUP -> {
        if (state.result()) {
          started = true;
          ready = !has(ProbeSpec.Kind.READINESS);
          cancel(ProbeSpec.Kind.STARTUP); // as the kubelet: the startup probe is done
        } else {
          kill(spec, run, now, failure);
        }
      }
      case READINESS -> {
        ready = state.result();
        LOG.info("pod {}: {}", name(), ready ? "ready" : failure);
      }
      case LIVENESS -> {
        if (!state.result()) {
          kill(spec, run, now, failure);
        }
      }
    }
    return true;
  }

  /** The status to report now; null when there is none (stopped before it ever ran). */
  PodStatus status(Instant now) {
    int restarts = Math.max(0, launches - 1);
    ContainerStatus cs;
    String phase;
    PodProcess.Run run = current;
    if (end != null) {
      cs = PodStatuses.terminated(container, restarts, end, end == last ? null : last);
      phase = end.exitCode() == 0 ? "Succeeded" : "Failed";
    } else if (run != null) {
      cs =
          PodStatuses.running(
              container,
              run.containerId(),
              restarts,
              started,
              ready,
              run.startedAt.toString(),
              last);
      phase = "Running";
    } else if (stopping) {
      return null;
    } else {
      cs = PodStatuses.waiting(container, restarts, waitingReason, waitingMessage, last);
      phase = last == null ? "Pending" : "Running";
    }
    return PodStatuses.status(phase, ip, startTime, cs, lastWritten, now.toString());
  }

  private void attemptStart(Instant now) {
    nextAttempt = null;
    if (prepared == null) {
      try {
        prepared = preparer.prepare(pod, ip);
        inARow = 0;
      } catch (PodProcess.Unrunnable e) {
        cannotStart(e.reason, e.getMessage(), now);
        return;
      } catch (IOException e) {
        cannotStart("CreateContainerError", e.getMessage(), now);
        return;
      }
    }
    int number = launches++;
    try {
      PodProcess.Run run = prepared.launch(number);
      current = run;
      waitingReason = null;
      waitingMessage = null;
      started = !has(ProbeSpec.Kind.STARTUP);
      ready = started && !has(ProbeSpec.Kind.READINESS);
      probeStates.clear();
      probes.forEach(p -> probeStates.put(p.kind(), new ProbeSpec.State(p)));
      probeTasks = probeStarter.start(this, run, probes, prepared.probeTarget(ip));
      LOG.info(
          "pod {}: started {} (pid {}, ip {}, restarts {}, log {})",
          name(),
          container.getName(),
          run.process.pid(),
          ip,
          number,
          prepared.log);
    } catch (IOException e) {
      // The command could not start (missing, not executable): the kubelet's StartError.
      LOG.warn("pod {}: cannot start {}: {}", name(), container.getName(), e.getMessage());
      String ts = now.toString();
      exited(new Termination(128, "StartError", e.getMessage(), ts, ts, null), now, Duration.ZERO);
    }
  }

  /**
   * The container cannot be prepared (no local command for its image, a missing ConfigMap...). A
   * pod of a Deployment (restartPolicy Always) waits and tries again, as the kubelet does; a batch
   * pod fails, so that its Job reports the problem at once.
   */
  private void cannotStart(String reason, String message, Instant now) {
    LOG.warn("cannot run {}: {}: {}", name(), reason, message);
    if ("Always".equals(restartPolicy) || restartPolicy == null) {
      inARow++;
      Duration delay = Restarts.delay(inARow + 1);
      waitingReason = reason;
      waitingMessage = message;
      nextAttempt = now.plus(delay);
    } else {
      String ts = now.toString();
      end = new Termination(128, reason, message, ts, ts, null);
    }
  }

  private void exited(Termination t, Instant now, Duration ranFor) {
    current = null;
    started = false;
    ready = false;
    cancelProbes();
    if (stopping || !Restarts.shouldRestart(restartPolicy, t.exitCode())) {
      end = t;
      return;
    }
    last = t;
    inARow = Restarts.inARow(inARow, ranFor);
    Duration delay = Restarts.delay(inARow);
    if (delay.isZero()) {
      attemptStart(now);
      return;
    }
    nextAttempt = now.plus(delay);
    waitingReason = "CrashLoopBackOff";
    waitingMessage =
        "back-off "
            + delay.toSeconds()
            + "s restarting failed container="
            + container.getName()
            + " pod="
            + pod.getMetadata().getName()
            + "_"
            + pod.getMetadata().getNamespace()
            + "("
            + uid
            + ")";
    LOG.info("pod {}: {}", name(), waitingMessage);
  }

  /** Kills a run whose liveness or startup probe failed; {@link #tick} then restarts it. */
  private void kill(ProbeSpec spec, PodProcess.Run run, Instant now, String why) {
    Long seconds = spec.probe().getTerminationGracePeriodSeconds();
    if (seconds == null) {
      seconds = pod.getSpec().getTerminationGracePeriodSeconds();
    }
    LOG.info("pod {}: {}; container will be restarted per restartPolicy", name(), why);
    ready = false;
    cancelProbes();
    run.stop(now, grace(seconds));
  }

  /** A grace period in seconds (null: the Kubernetes default, 30), capped at {@link #MAX_GRACE}. */
  static Duration grace(Long seconds) {
    Duration d = Duration.ofSeconds(seconds == null ? 30 : Math.max(0, seconds));
    return d.compareTo(MAX_GRACE) > 0 ? MAX_GRACE : d;
  }

  private boolean has(ProbeSpec.Kind kind) {
    return probes.stream().anyMatch(p -> p.kind() == kind);
  }

  private void cancel(ProbeSpec.Kind kind) {
    Future<?> task = probeTasks.get(kind);
    if (task != null) {
      task.cancel(false);
    }
  }

  private void cancelProbes() {
    probeTasks.values().forEach(t -> t.cancel(false));
    probeTasks = Map.of();
  }
}
