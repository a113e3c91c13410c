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

  @JsonPropertyDescription(
      "When the trainer printed it (the kubelet's timestamp of its progress line, RFC 3339):"
          + " sweep.earlyStopping ASHA compares a trial with the trials that reached the same"
          + " step before it. Absent for the final evaluation, taken from the trainer's summary.")
  private String time;

  public EvalPoint(Long step, Double loss) {
    this(step, loss, null);
  }
}
