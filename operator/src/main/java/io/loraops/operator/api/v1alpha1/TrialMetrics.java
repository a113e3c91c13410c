package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import lombok.Data;

/** What the trainer measured for one trial. */
@Data
public class TrialMetrics {

  @JsonPropertyDescription("Training loss at the end of training.")
  private Double trainLoss;

  @JsonPropertyDescription("Final evaluation loss.")
  private Double evalLoss;

  @JsonPropertyDescription("exp(evalLoss).")
  private Double perplexity;

  @JsonPropertyDescription("Optimizer steps taken.")
  private Long steps;

  @JsonPropertyDescription("Training throughput.")
  private Double tokensPerSecond;

  @JsonPropertyDescription("Number of trained (LoRA) parameters.")
  private Long trainableParameters;

  @JsonPropertyDescription("Size of the adapter files in bytes.")
  private Long adapterBytes;

  @JsonPropertyDescription("Wall time of the trainer in seconds.")
  private Double durationSeconds;
}
