package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import lombok.Data;

/**
 * A trial's live progress, read from the trainer's progress lines through the pod log API (see
 * docs/progress.md). Updated at most once per poll interval, not once per step.
 */
@Data
public class TrialProgress {

  @JsonPropertyDescription("Latest optimizer step reported.")
  private Long step;

  @JsonPropertyDescription("Optimizer steps the trial plans to take.")
  private Long totalSteps;

  @JsonPropertyDescription("Training loss of the latest step.")
  private Double trainLoss;

  @JsonPropertyDescription("Eval loss of the latest evaluation.")
  private Double evalLoss;

  @JsonPropertyDescription("Training throughput of the latest step.")
  private Double tokensPerSecond;

  @JsonPropertyDescription("Training time so far in seconds (optimizer steps only).")
  private Double elapsedSeconds;

  @JsonPropertyDescription(
      "Estimated seconds left: elapsedSeconds / step x (totalSteps - step); 0 once finished.")
  private Long etaSeconds;

  @JsonPropertyDescription(
      "Every evaluation so far, oldest first (at most the latest 50), for early stopping and"
          + " for comparing trials at equal steps.")
  private List<EvalPoint> evals = new ArrayList<>();
}
