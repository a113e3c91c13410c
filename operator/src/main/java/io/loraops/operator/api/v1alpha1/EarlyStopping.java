package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import lombok.Data;

/**
 * When to stop a trial before its last step. The rule compares eval losses the trainer reports at
 * the same optimizer step (training.evalEverySteps must be set), read from its progress lines.
 */
@Data
public class EarlyStopping {

  @Required
  @JsonPropertyDescription(
      "Median: stop a running trial whose eval loss at a step is worse (higher, or not finite)"
          + " than the median of the finished trials' eval losses at the same step (the median"
          + " stopping rule of Google Vizier, as Katib, Ray Tune and Optuna apply it). Finished"
          + " means succeeded or stopped early: trials running side by side never stop each other.")
  private Rule rule;

  @Required
  @Min(1)
  @Max(10_000_000)
  @JsonPropertyDescription(
      "No trial is stopped before this optimizer step (its first evaluations are noisy).")
  private Integer minSteps;

  @Min(1)
  @Max(1000)
  @JsonPropertyDescription(
      "How many finished trials must have an eval loss at the step before the rule judges it."
          + " Default 2.")
  private Integer minTrials = 2;

  /** Early-stopping rules. */
  public enum Rule {
    Median
  }
}
