package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import lombok.Data;

/** The trial the objective chose. */
@Data
public class BestTrial {

  @JsonPropertyDescription("Trial name.")
  private String name;

  @JsonPropertyDescription("Its LoRA rank.")
  private Integer rank;

  @JsonPropertyDescription("Its LoRA alpha.")
  private Double alpha;

  @JsonPropertyDescription("Its learning rate.")
  private Double learningRate;

  @JsonPropertyDescription(
      "Its final evaluation loss, to 4 significant digits (exact in status.trials[].metrics).")
  private Double evalLoss;

  @JsonPropertyDescription("Value of the objective's metric, to 4 significant digits.")
  private Double objectiveValue;
}
