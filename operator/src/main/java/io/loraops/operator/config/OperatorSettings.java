package io.loraops.operator.config;

/**
 * Operator-wide defaults for trial pods. A plain record so tests build it with {@code new}; the
 * Quarkus side fills it from {@code lora.*} properties (see {@link SettingsProducer}).
 *
 * @param trainerImage image of trial pods unless a LoraJob overrides it
 * @param trainerImagePullPolicy pull policy unless a LoraJob overrides it
 * @param runAsUser uid of trial pods (non-root)
 */
public record OperatorSettings(String trainerImage, String trainerImagePullPolicy, long runAsUser) {

  public static final String DEFAULT_TRAINER_IMAGE = "loraops/lora-trainer:0.1.0";

  public static OperatorSettings defaults() {
    return new OperatorSettings(DEFAULT_TRAINER_IMAGE, "IfNotPresent", 65532);
  }
}
