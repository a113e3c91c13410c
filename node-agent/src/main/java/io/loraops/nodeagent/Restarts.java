package io.loraops.nodeagent;

import java.time.Duration;

/**
 * When a container that exited runs again: the pod's restartPolicy decides whether, the kubelet's
 * crash-loop back-off decides when. The first restart is immediate; each further one in a row waits
 * twice as long as the one before, from {@link #INITIAL} up to {@link #MAX} (the kubelet's 10s and
 * 5 minutes, its maximum shortened for local runs). A container that ran longer than twice the
 * maximum before it exited starts the sequence again. Pure.
 *
 * @see <a
 *     href="https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts">Container
 *     restarts</a>
 */
final class Restarts {
  private Restarts() {}

  static final Duration INITIAL = Duration.ofSeconds(10);
  static final Duration MAX = Duration.ofSeconds(60);

  /** Whether a container of a pod with {@code restartPolicy} runs again after exiting so. */
  static boolean shouldRestart(String restartPolicy, int exitCode) {
    return switch (restartPolicy == null ? "Always" : restartPolicy) {
      case "Never" -> false;
      case "OnFailure" -> exitCode != 0;
      default -> true; // Always, the API server's default
    };
  }

  /**
   * How many restarts in a row the next one is, counting it: {@code previous} (0 for none) plus
   * one, or 1 again when the container ran long enough to reset the back-off.
   */
  static int inARow(int previous, Duration ranFor) {
    return ranFor.compareTo(MAX.multipliedBy(2)) > 0 ? 1 : previous + 1;
  }

  /**
   * The back-off before the {@code inARow}-th restart in a row (1-based): 0, 10s, 20s, 40s, 60s.
   */
  static Duration delay(int inARow) {
    if (inARow <= 1) {
      return Duration.ZERO;
    }
    int doublings = Math.min(inARow - 2, 30);
    Duration d = INITIAL.multipliedBy(1L << doublings);
    return d.compareTo(MAX) > 0 ? MAX : d;
  }
}
