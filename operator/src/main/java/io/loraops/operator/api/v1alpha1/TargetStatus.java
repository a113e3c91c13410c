package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import lombok.Data;

/** Rollout progress on one target Deployment. */
@Data
public class TargetStatus {

  @JsonPropertyDescription("The Deployment.")
  private String deployment;

  @JsonPropertyDescription("The version all of its ready pods serve under the adapter's name.")
  private Integer servingVersion;

  @JsonPropertyDescription("Ready pods that serve the version being rolled out (or served).")
  private Integer podsUpdated;

  @JsonPropertyDescription("Ready pods of the Deployment.")
  private Integer podsReady;

  @JsonPropertyDescription("Pods of the Deployment.")
  private Integer podsTotal;

  @JsonPropertyDescription(
      "The server port the operator reaches its pods on; kept so that the adapter can still be"
          + " unloaded after the target is dropped from spec.serving.")
  private Integer port;

  @JsonPropertyDescription("What is happening on this target, when anything is.")
  private String message;
}
