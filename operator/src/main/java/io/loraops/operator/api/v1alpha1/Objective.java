package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import lombok.Data;

/** The metric that picks the best trial. */
@Data
public class Objective {

  @JsonPropertyDescription("Trial metric to compare. Default evalLoss.")
  private Metric metric = Metric.evalLoss;

  @JsonPropertyDescription("Whether lower or higher is better. Default Minimize.")
  private Goal goal = Goal.Minimize;

  /** Comparable trial metrics. */
  public enum Metric {
    evalLoss,
    trainLoss,
    perplexity
  }

  /** Direction of the comparison. */
  public enum Goal {
    Minimize,
    Maximize
  }
}
