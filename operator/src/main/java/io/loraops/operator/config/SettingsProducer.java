package io.loraops.operator.config;

import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.loraops.operator.metrics.LoraMetrics;
import io.loraops.operator.support.EventRecorder;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.arc.Unremovable;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.context.Dependent;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;

/** CDI wiring: the one place Quarkus configuration becomes plain objects. */
@ApplicationScoped
public class SettingsProducer {

  /** {@code lora.*} application properties (environment: {@code LORA_TRAINER_IMAGE}, ...). */
  @ConfigMapping(prefix = "lora")
  public interface LoraConfig {
    /** Default trainer image of trial pods. */
    @WithDefault(OperatorSettings.DEFAULT_TRAINER_IMAGE)
    String trainerImage();

    /** Default image pull policy of trial pods. */
    @WithDefault("IfNotPresent")
    String trainerImagePullPolicy();

    /** Non-root uid of trial pods. */
    @WithDefault("65532")
    long trialRunAsUser();

    /** Time between two reads of each running trial's progress lines (docs/progress.md). */
    @WithDefault("10s")
    Duration progressPollInterval();

    /** Progress log reads in flight at once, over all LoraJobs. */
    @WithDefault("4")
    int progressReaders();

    /** Leader election, for running more than one replica (the Helm chart sets it). */
    LeaderElection leaderElection();

    /** {@code lora.leader-election.*}. */
    interface LeaderElection {
      /** Whether replicas elect a leader through a Lease; only the leader reconciles. */
      @WithDefault("false")
      boolean enabled();

      /** Name of the Lease. */
      @WithDefault("lora-operator-leader")
      String leaseName();

      /** Namespace of the Lease; default: the namespace the operator runs in. */
      Optional<String> leaseNamespace();

      /**
       * How long a Lease holds after its last renewal: a standby takes over at most this plus one
       * retry period after the leader dies. Kubernetes' own controllers use 15 s; 10 s keeps a
       * failover within 15 s (ChaosIT, RealNodeE2E measure it).
       */
      @WithDefault("10s")
      Duration leaseDuration();

      /** How long the leader keeps trying to renew before it gives up leading (and halts). */
      @WithDefault("7s")
      Duration renewDeadline();

      /** Time between two tries to acquire or renew the Lease. */
      @WithDefault("2s")
      Duration retryPeriod();
    }
  }

  // @Singleton, not @ApplicationScoped: records and Clock cannot be proxied.
  @Produces
  @Singleton
  OperatorSettings settings(LoraConfig config) {
    return new OperatorSettings(
        config.trainerImage(), config.trainerImagePullPolicy(), config.trialRunAsUser());
  }

  @Produces
  @Singleton
  ProgressSettings progressSettings(LoraConfig config) {
    return new ProgressSettings(config.progressPollInterval(), config.progressReaders());
  }

  @Produces
  @Singleton
  Clock clock() {
    return Clock.systemUTC();
  }

  /**
   * The operator SDK elects a leader only when this bean is not null. Off by default: a single
   * replica needs no Lease (and no RBAC for one).
   */
  @Produces
  @Dependent
  @Unremovable
  LeaderElectionConfiguration leaderElection(LoraConfig config) {
    LoraConfig.LeaderElection election = config.leaderElection();
    return election.enabled()
        ? LeaderElections.of(
            election.leaseName(),
            election.leaseNamespace().orElse(null),
            election.leaseDuration(),
            election.renewDeadline(),
            election.retryPeriod())
        : null;
  }

  /**
   * The operator SDK's reconcile metrics, per controller. The SDK's default also keeps a series per
   * custom resource (a label with its name, times every histogram bucket), which grows without
   * bound with the number of LoraJobs.
   */
  @Produces
  @Singleton
  @Unremovable
  Metrics operatorSdkMetrics(MeterRegistry registry) {
    return MicrometerMetrics.withoutPerResourceMetrics(registry);
  }

  @Produces
  @Singleton
  LoraMetrics metrics(MeterRegistry registry) {
    return new LoraMetrics(registry);
  }

  /** One Event writer for both controllers (see {@link EventRecorder}: one writer, in order). */
  @Produces
  @Singleton
  EventRecorder events() {
    return new EventRecorder();
  }

  void closeEvents(@Disposes EventRecorder events) {
    events.close();
  }
}
