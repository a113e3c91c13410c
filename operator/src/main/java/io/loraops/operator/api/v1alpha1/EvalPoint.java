package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import lombok.AllArgsConstructor;
import lombok.Data;
import lombok.NoArgsConstructor;

/** One evaluation during training. */
@Data
@NoArgsConstructor
@AllArgsConstructor
public class EvalPoint {

  @JsonPropertyDescription("Optimizer step of the evaluation.")
  private Long step;

  @JsonPropertyDescription(
      "Eval loss at that step; absent when it was not finite (training diverged).")
  private Double loss;
}
