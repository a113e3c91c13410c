package io.loraops.operator.config;

import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import java.time.Duration;
import org.jboss.logging.Logger;

/**
 * Leader election for more than one replica, and what a replica does when it stops leading.
 *
 * <p>A leader that loses its Lease (the API server was away longer than the renew deadline) must
 * stop reconciling at once: another replica may already lead. The operator SDK's own answer, {@code
 * System.exit}, deadlocks here: exit runs the shutdown hooks, the hooks stop the operator, stopping
 * the operator stops the leader election, and that calls {@code System.exit} again from inside a
 * hook, which blocks for good. A SIGTERM to a leading replica (every rolling update) takes the same
 * path. Either way the process neither leads nor exits (ChaosIT found both). So the SDK is told not
 * to exit, and this halts the JVM instead, without hooks: the operator is safe to kill at any
 * moment (every reconcile is idempotent), and the kubelet starts it again as a standby. A shutdown
 * already under way (SIGTERM) is left to finish.
 */
public final class LeaderElections {

  private static final Logger LOG = Logger.getLogger(LeaderElections.class);

  private LeaderElections() {}

  /**
   * A replica leads for {@code leaseDuration} after its last renewal, so a standby takes over at
   * most that plus one {@code retryPeriod} after the leader dies.
   */
  public static LeaderElectionConfiguration of(
      String leaseName,
      String leaseNamespace,
      Duration leaseDuration,
      Duration renewDeadline,
      Duration retryPeriod) {
    return new LeaderElectionConfiguration(
        leaseName,
        leaseNamespace,
        leaseDuration,
        renewDeadline,
        retryPeriod,
        null, // identity: the SDK's default, the pod name (HOSTNAME)
        new LeaderCallbacks(() -> {}, LeaderElections::stoppedLeading, newLeader -> {}),
        false);
  }

  private static void stoppedLeading() {
    if (shutdownInProgress()) {
      return;
    }
    LOG.error(
        "lost the leader Lease: halting, so that no reconcile runs beside the new leader's;"
            + " the container restarts as a standby");
    Runtime.getRuntime().halt(1);
  }

  /** The JDK refuses new shutdown hooks once shutdown has begun; that is the only way to ask. */
  static boolean shutdownInProgress() {
    Thread probe = new Thread(() -> {});
    try {
      Runtime.getRuntime().addShutdownHook(probe);
      Runtime.getRuntime().removeShutdownHook(probe);
      return false;
    } catch (IllegalStateException e) {
      return true;
    }
  }
}
