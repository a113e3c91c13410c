package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;
import lombok.Data;

/**
 * When to stop a trial before its last step. The rules compare eval losses the trainer reports at
 * the same optimizer step (training.evalEverySteps must be set), read from its progress lines.
 */
@Data
@ValidationRule(
    value = "!has(self.minTrials) || self.rule == 'Median'",
    message = "sweep.earlyStopping.minTrials applies to rule Median only")
@ValidationRule(
    value = "!has(self.reductionFactor) || self.rule == 'ASHA'",
    message = "sweep.earlyStopping.reductionFactor applies to rule ASHA only")
public class EarlyStopping {

  @Required
  @JsonPropertyDescription(
      "Median: stop a running trial whose eval loss at a step is worse (higher, or not finite)"
          + " than the median of the finished trials' eval losses at the same step (the median"
          + " stopping rule of Google Vizier, as Katib, Ray Tune and Optuna apply it). Finished"
          + " means succeeded or stopped early: trials running side by side never stop each"
          + " other. ASHA: asynchronous successive halving (Li et al. 2018, as Ray Tune's"
          + " AsyncHyperBandScheduler): rungs at minSteps x reductionFactor^k below"
          + " training.maxSteps; a trial reaching a rung continues only if its eval loss is"
          + " within the top 1/reductionFactor (rounded down) of the trials that reached that"
          + " rung before it, itself included; while fewer than reductionFactor trials have"
          + " reached a rung, it stops none.")
  private Rule rule;

  @Required
  @Min(1)
  @Max(10_000_000)
  @JsonPropertyDescription(
      "No trial is stopped before this optimizer step (its first evaluations are noisy). For"
          + " ASHA, the first rung (the grace period); it must be a multiple of"
          + " training.evalEverySteps so every rung has an evaluation.")
  private Integer minSteps;

  @Min(1)
  @Max(1000)
  @JsonPropertyDescription(
      "Median only: how many finished trials must have an eval loss at the step before the"
          + " rule judges it. Default 2.")
  private Integer minTrials;

  @Min(2)
  @Max(100)
  @JsonPropertyDescription(
      "ASHA only: eta, the reduction factor. Rungs are eta times apart and the top 1/eta of a"
          + " rung continues. Default 3.")
  private Integer reductionFactor;

  // No field initializers: a default written into the object (by a typed client, or as a schema
  // default) would make "set with the other rule" impossible to tell from "not set".

  /** {@link #minTrials}, or its default. */
  public int minTrialsOrDefault() {
    return minTrials == null ? 2 : minTrials;
  }

  /** {@link #reductionFactor}, or its default. */
  public int reductionFactorOrDefault() {
    return reductionFactor == null ? 3 : reductionFactor;
  }

  /** Early-stopping rules. */
  public enum Rule {
    Median,
    ASHA
  }
}
