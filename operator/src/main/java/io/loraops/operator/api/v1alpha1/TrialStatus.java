package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import lombok.Data;

/** One trial: its parameters, its Job and its results. */
@Data
public class TrialStatus {

  @JsonPropertyDescription("Trial name, stable within the job (t000, t001, ...).")
  private String name;

  @JsonPropertyDescription("Position in the expanded sweep.")
  private Integer index;

  @JsonPropertyDescription("The swept values of this trial.")
  private TrialParameters parameters;

  @JsonPropertyDescription(
      "Waiting, Queued, Pending, Running, Suspended, Succeeded, Failed or EarlyStopped.")
  private String phase;

  @JsonPropertyDescription("CamelCase reason for the phase, e.g. Unschedulable, OutOfMemory.")
  private String reason;

  @JsonPropertyDescription("Human-readable detail of the phase.")
  private String message;

  @JsonPropertyDescription("Pods started for this trial so far (1 + retries).")
  private Integer attempts;

  @JsonPropertyDescription("The batch/v1 Job running this trial.")
  private String jobName;

  @JsonPropertyDescription(
      "Live progress while the trial runs (step, losses, throughput, time left), kept once it ends.")
  private TrialProgress progress;

  @JsonPropertyDescription("Results reported by the trainer.")
  private TrialMetrics metrics;

  @JsonPropertyDescription("Where the trial's adapter was written.")
  private String artifactUri;

  @JsonPropertyDescription("sha256 digest over the trial's adapter files.")
  private String digest;

  @JsonPropertyDescription("When the trial's Job started (RFC 3339).")
  private String startTime;

  @JsonPropertyDescription("When the trial finished (RFC 3339).")
  private String completionTime;
}
