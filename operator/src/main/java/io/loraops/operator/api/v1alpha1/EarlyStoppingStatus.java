package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import lombok.Data;

/** What early stopping saved so far. */
@Data
public class EarlyStoppingStatus {

  @JsonPropertyDescription("Trials stopped early.")
  private Integer stoppedTrials;

  @JsonPropertyDescription("Optimizer steps the stopped trials did not take.")
  private Long stepsSaved;

  @JsonPropertyDescription(
      "Estimated GPU-seconds saved: for each stopped trial, its steps not taken x its measured"
          + " seconds per step x its GPUs (resources.gpus; a CPU-only trial counts as 0).")
  private Long gpuSecondsSaved;

  @JsonPropertyDescription(
      "Estimated trial-seconds saved: the same estimate without the GPU factor.")
  private Long trialSecondsSaved;
}
