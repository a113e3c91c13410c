package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import lombok.Data;

/** What to fine-tune, on what, how, and where to publish the result. */
@Data
@ValidationRule(
    value =
        "!has(self.sweep) || !has(self.sweep.earlyStopping)"
            + " || (has(self.training.evalEverySteps) && self.training.evalEverySteps > 0)",
    message =
        "sweep.earlyStopping compares eval losses during training: set training.evalEverySteps")
@ValidationRule(
    value =
        "!has(self.sweep) || !has(self.sweep.earlyStopping) || !has(self.training.maxSteps)"
            + " || self.sweep.earlyStopping.minSteps < self.training.maxSteps",
    message = "sweep.earlyStopping.minSteps must be smaller than training.maxSteps")
@ValidationRule(
    value =
        "!has(self.sweep) || !has(self.sweep.earlyStopping) || self.sweep.earlyStopping.rule !="
            + " 'ASHA' || has(self.training.maxSteps)",
    message =
        "sweep.earlyStopping rule ASHA lays its rungs out up to training.maxSteps: set"
            + " training.maxSteps")
@ValidationRule(
    value =
        "!has(self.sweep) || !has(self.sweep.earlyStopping) || self.sweep.earlyStopping.rule !="
            + " 'ASHA' || !has(self.training.evalEverySteps) || self.training.evalEverySteps <= 0"
            + " || self.sweep.earlyStopping.minSteps % self.training.evalEverySteps == 0",
    message =
        "sweep.earlyStopping rule ASHA compares trials at its rungs (minSteps x"
            + " reductionFactor^k): minSteps must be a multiple of training.evalEverySteps")
public class LoraJobSpec {

  @Required
  @Size(max = 63)
  @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
  @JsonPropertyDescription(
      "Name of the LoraAdapter (same namespace) that the best trial is published into as a new"
          + " version. Created if absent. A DNS label of at most 63 characters.")
  private String adapter;

  @Required
  @JsonPropertyDescription("The base model to adapt, in Hugging Face layout.")
  private BaseModel baseModel;

  @Required
  @JsonPropertyDescription("Training (and optionally validation) data as JSONL.")
  private Dataset dataset;

  @JsonPropertyDescription(
      "The adapter's shape. Values swept in spec.sweep override the matching field per trial.")
  private LoraParameters lora = new LoraParameters();

  @Required
  @JsonPropertyDescription("Optimisation hyperparameters shared by every trial.")
  private Training training;

  @JsonPropertyDescription(
      "Values to sweep over. Without a sweep the job runs a single trial with spec.lora and"
          + " spec.training.")
  private Sweep sweep;

  @JsonPropertyDescription("Compute for each trial pod and trainer container overrides.")
  private Resources resources = new Resources();

  @Required
  @JsonPropertyDescription("Where trial outputs and published adapters are stored.")
  private Output output;

  @Min(0)
  @Max(20)
  @JsonPropertyDescription(
      "How many times a failed trial is retried (the trial Job's backoffLimit). A trainer exit"
          + " for bad config or bad data (exit codes 2 and 3) is never retried. Default 2.")
  private Integer backoffLimit = 2;

  @Min(1)
  @JsonPropertyDescription(
      "Seconds one trial may run, retries included, before it is failed with DeadlineExceeded.")
  private Long activeDeadlineSeconds;

  @JsonPropertyDescription(
      "Suspend the sweep: no new trial Job is created until this is false again, and unfinished"
          + " trials are paused. Without Kueue the operator suspends their Jobs (spec.suspend;"
          + " the pods are deleted). With the kueue.x-k8s.io/queue-name label, Kueue owns the"
          + " Jobs' spec.suspend, so the operator deactivates their Kueue Workloads instead"
          + " (spec.active: false): Kueue evicts running trials, freeing their quota, and admits"
          + " no queued one; false activates them again. A paused trial starts again from"
          + " scratch. Finished trials are kept; on a finished LoraJob this changes nothing.")
  private Boolean suspend = false;
}
