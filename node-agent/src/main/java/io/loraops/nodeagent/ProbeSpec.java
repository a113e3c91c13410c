package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Probe;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One probe of a container with the Kubernetes defaults applied (the API server applies them too,
 * but a pod may come from elsewhere): initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1,
 * successThreshold 1 (always 1 for liveness and startup probes), failureThreshold 3. Pure.
 *
 * @see <a
 *     href="https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#configure-probes">Configure
 *     probes</a>
 */
record ProbeSpec(
    Kind kind,
    Probe probe,
    Duration initialDelay,
    Duration period,
    Duration timeout,
    int successThreshold,
    int failureThreshold) {

  enum Kind {
    STARTUP("Startup"),
    READINESS("Readiness"),
    LIVENESS("Liveness");

    final String display;

    Kind(String display) {
      this.display = display;
    }
  }

  static ProbeSpec of(Kind kind, Probe probe) {
    return new ProbeSpec(
        kind,
        probe,
        Duration.ofSeconds(orDefault(probe.getInitialDelaySeconds(), 0, 0)),
        Duration.ofSeconds(orDefault(probe.getPeriodSeconds(), 10, 1)),
        Duration.ofSeconds(orDefault(probe.getTimeoutSeconds(), 1, 1)),
        kind == Kind.READINESS ? orDefault(probe.getSuccessThreshold(), 1, 1) : 1,
        orDefault(probe.getFailureThreshold(), 3, 1));
  }

  /** The container's probes, startup first. */
  static List<ProbeSpec> of(Container c) {
    List<ProbeSpec> specs = new ArrayList<>();
    if (c.getStartupProbe() != null) {
      specs.add(of(Kind.STARTUP, c.getStartupProbe()));
    }
    if (c.getReadinessProbe() != null) {
      specs.add(of(Kind.READINESS, c.getReadinessProbe()));
    }
    if (c.getLivenessProbe() != null) {
      specs.add(of(Kind.LIVENESS, c.getLivenessProbe()));
    }
    return specs;
  }

  /** What the probe checks, for messages: {@code http-get http://:8000/health}, ... */
  String describe() {
    if (probe.getHttpGet() != null) {
      var h = probe.getHttpGet();
      return "http-get "
          + (h.getScheme() == null ? "http" : h.getScheme().toLowerCase(java.util.Locale.ROOT))
          + "://"
          + (h.getHost() == null ? "" : h.getHost())
          + ":"
          + h.getPort().getValue()
          + (h.getPath() == null ? "/" : h.getPath());
    }
    if (probe.getTcpSocket() != null) {
      return "tcp-socket :" + probe.getTcpSocket().getPort().getValue();
    }
    if (probe.getExec() != null) {
      return "exec " + probe.getExec().getCommand();
    }
    return "grpc";
  }

  private static int orDefault(Integer value, int dflt, int min) {
    return value == null || value < min ? dflt : value;
  }

  /**
   * The result a probe reports, from its checks so far, the way the kubelet's probe worker counts
   * them: the reported result changes only after {@code successThreshold} successes or {@code
   * failureThreshold} failures in a row. Readiness starts failed, liveness succeeded, startup
   * failed. Not thread-safe: the agent's sync thread owns it.
   */
  static final class State {
    private final ProbeSpec spec;
    private boolean result;
    private Boolean last;
    private int run;

    State(ProbeSpec spec) {
      this.spec = spec;
      this.result = spec.kind() == Kind.LIVENESS;
    }

    /** Records one check; true when the reported result changed. */
    boolean record(boolean success) {
      if (last != null && last == success) {
        run++;
      } else {
        last = success;
        run = 1;
      }
      int threshold = success ? spec.successThreshold() : spec.failureThreshold();
      if (run < threshold || result == success) {
        return false;
      }
      result = success;
      return true;
    }

    boolean result() {
      return result;
    }
  }
}
