package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;
import lombok.Data;

/** The adapter's version history and serving state. */
@Data
public class LoraAdapterStatus {

  @JsonPropertyDescription("The metadata.generation this status was computed for.")
  private Long observedGeneration;

  @JsonPropertyDescription(
      "One-word summary for people: Empty, Available, Invalid, RollingOut, Serving or"
          + " RolledBack. Automation should read"
          + " conditions.")
  private String phase;

  @JsonPropertyDescription(
      "Conditions: Ready, Progressing, Degraded, and Reconciling and Stalled for kstatus (Flux)"
          + " (see docs/conditions.md for every reason).")
  private List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("Highest published version number.")
  private Integer latestVersion;

  @JsonPropertyDescription("The version spec.version resolves to, once it exists.")
  private Integer desiredVersion;

  @JsonPropertyDescription(
      "The version every serving target serves under the adapter's name (the alias); its"
          + " immutable served name is <adapter>-v<version>.")
  private Integer servingVersion;

  @JsonPropertyDescription("The current or last rollout.")
  private RolloutStatus rollout;

  @JsonPropertyDescription("Rollout progress per target Deployment.")
  private List<TargetStatus> targets = new ArrayList<>();

  @JsonPropertyDescription(
      "Every published version, newest first. Rebuilt from the version records, so it survives"
          + " deletion and re-creation of this object.")
  private List<AdapterVersion> versions = new ArrayList<>();
}
