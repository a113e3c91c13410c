package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.loraops.operator.status.Reasons;
import lombok.Data;

/**
 * The current or last rollout. It lives in status so that an operator restart continues where the
 * rollout was; what each pod actually serves is always re-read from the servers themselves.
 */
@Data
public class RolloutStatus {

  /** Phases of a rollout. */
  public static final String PROGRESSING = "Progressing";

  public static final String SUCCEEDED = "Succeeded";
  public static final String ROLLED_BACK = "RolledBack";

  /** Why a rollout was rolled back: a gate failed on a pod that had loaded the version. */
  public static final String GATE_FAILED = Reasons.GATE_FAILED;

  /**
   * Why a rollout was rolled back: a server cannot serve the version (another base model, a rank
   * above its limit), found before any load call.
   */
  public static final String INCOMPATIBLE_ADAPTER = Reasons.INCOMPATIBLE_ADAPTER;

  @JsonPropertyDescription("The version being (or last) rolled out.")
  private Integer version;

  @JsonPropertyDescription("The version served before it, the rollback target; empty if none.")
  private Integer fromVersion;

  @JsonPropertyDescription("Progressing, Succeeded or RolledBack.")
  private String phase;

  @JsonPropertyDescription("Index of the current step in the rollout's steps (0-based).")
  private Integer step;

  @JsonPropertyDescription("Number of steps, the implied final 100% included.")
  private Integer steps;

  @JsonPropertyDescription("metadata.generation of the LoraAdapter this rollout was started for.")
  private Long generation;

  @JsonPropertyDescription("When the rollout started (RFC 3339).")
  private String startedAt;

  @JsonPropertyDescription(
      "When the current step's gates all passed (RFC 3339); the pause is counted from it.")
  private String stepPassedAt;

  @JsonPropertyDescription("When the rollout ended (RFC 3339).")
  private String finishedAt;

  @JsonPropertyDescription("Why it was rolled back, or what it is waiting for.")
  private String message;

  @JsonPropertyDescription(
      "Why it was rolled back, as a CamelCase reason: GateFailed (a pod that loaded the version"
          + " failed a gate) or IncompatibleAdapter (a server cannot serve the version: another base"
          + " model or a rank above its --max-lora-rank; nothing was loaded). Empty otherwise.")
  private String reason;
}
