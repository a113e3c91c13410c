package io.loraops.operator.config;

import io.loraops.operator.metrics.LoraMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Clock;

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
  Clock clock() {
    return Clock.systemUTC();
  }

  @Produces
  @Singleton
  LoraMetrics metrics(MeterRegistry registry) {
    return new LoraMetrics(registry);
  }
}
