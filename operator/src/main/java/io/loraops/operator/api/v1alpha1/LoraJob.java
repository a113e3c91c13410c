package io.loraops.operator.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A LoRA fine-tuning sweep: one trainer Job per trial, the best trial published as a new version of
 * a {@link LoraAdapter}.
 */
@Group(LoraJob.GROUP)
@Version(LoraJob.VERSION)
@Categories("lora")
@ShortNames("lj")
@AdditionalPrinterColumn(
    name = "Phase",
    jsonPath = ".status.phase",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Trials",
    jsonPath = ".status.progress",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Done%",
    jsonPath = ".status.percentComplete",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "ETA",
    jsonPath = ".status.eta",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Best Rank",
    jsonPath = ".status.bestTrial.rank",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Best Eval Loss",
    jsonPath = ".status.bestTrial.evalLoss",
    type = AdditionalPrinterColumn.Type.NUMBER)
@AdditionalPrinterColumn(
    name = "Version",
    jsonPath = ".status.publishedVersion",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Age",
    jsonPath = ".metadata.creationTimestamp",
    type = AdditionalPrinterColumn.Type.DATE)
// Conditions are selected by type, never by list index (their order is not part of the API).
@AdditionalPrinterColumn(
    name = "Complete",
    jsonPath = ".status.conditions[?(@.type==\"Complete\")].status",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Reason",
    jsonPath = ".status.conditions[?(@.type==\"Complete\")].reason",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Rec Rank",
    jsonPath = ".status.rankAnalysis.recommendedRank",
    type = AdditionalPrinterColumn.Type.INTEGER,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Stopped",
    jsonPath = ".status.trialsEarlyStopped",
    type = AdditionalPrinterColumn.Type.INTEGER,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Running",
    jsonPath = ".status.running",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
@ValidationRule(
    value = "size(self.metadata.name) <= 52",
    message =
        "a LoraJob name has at most 52 characters (it prefixes its trial Job names, which have at most 63)")
@ValidationRule(
    value = LoraJob.TRIAL_SHAPING_FIELDS_IMMUTABLE,
    message =
        "spec.adapter, baseModel, dataset, lora, training, output and the sweep's values cannot change once trials exist (sweep.parallelism, resources and suspend can); create a new LoraJob instead")
public class LoraJob extends CustomResource<LoraJobSpec, LoraJobStatus> implements Namespaced {

  public static final String GROUP = "loraops.io";
  public static final String VERSION = "v1alpha1";

  // Each optional field is equal only if present on both sides with the same value, or absent on
  // both. (CEL's optional selection `.?` would be shorter, but the API server's cost estimator
  // then rejects the rule.)
  static final String TRIAL_SHAPING_FIELDS_IMMUTABLE =
      "!has(oldSelf.status) || !has(oldSelf.status.trials) || size(oldSelf.status.trials) == 0"
          + " || (self.spec.adapter == oldSelf.spec.adapter"
          + " && self.spec.baseModel == oldSelf.spec.baseModel"
          + " && self.spec.dataset == oldSelf.spec.dataset"
          + " && (has(self.spec.lora) == has(oldSelf.spec.lora) && (!has(self.spec.lora) || self.spec.lora == oldSelf.spec.lora))"
          + " && self.spec.training == oldSelf.spec.training"
          + " && self.spec.output == oldSelf.spec.output"
          + " && (has(self.spec.sweep) == has(oldSelf.spec.sweep) && (!has(self.spec.sweep) || ((has(self.spec.sweep.rank) == has(oldSelf.spec.sweep.rank) && (!has(self.spec.sweep.rank) || self.spec.sweep.rank == oldSelf.spec.sweep.rank)) && (has(self.spec.sweep.alpha) == has(oldSelf.spec.sweep.alpha) && (!has(self.spec.sweep.alpha) || self.spec.sweep.alpha == oldSelf.spec.sweep.alpha)) && (has(self.spec.sweep.alphaPerRank) == has(oldSelf.spec.sweep.alphaPerRank) && (!has(self.spec.sweep.alphaPerRank) || self.spec.sweep.alphaPerRank == oldSelf.spec.sweep.alphaPerRank)) && (has(self.spec.sweep.learningRate) == has(oldSelf.spec.sweep.learningRate) && (!has(self.spec.sweep.learningRate) || self.spec.sweep.learningRate == oldSelf.spec.sweep.learningRate)) && (has(self.spec.sweep.targetModules) == has(oldSelf.spec.sweep.targetModules) && (!has(self.spec.sweep.targetModules) || self.spec.sweep.targetModules == oldSelf.spec.sweep.targetModules)) && (has(self.spec.sweep.strategy) == has(oldSelf.spec.sweep.strategy) && (!has(self.spec.sweep.strategy) || self.spec.sweep.strategy == oldSelf.spec.sweep.strategy)) && (has(self.spec.sweep.maxTrials) == has(oldSelf.spec.sweep.maxTrials) && (!has(self.spec.sweep.maxTrials) || self.spec.sweep.maxTrials == oldSelf.spec.sweep.maxTrials)) && (has(self.spec.sweep.seed) == has(oldSelf.spec.sweep.seed) && (!has(self.spec.sweep.seed) || self.spec.sweep.seed == oldSelf.spec.sweep.seed)) && (has(self.spec.sweep.objective) == has(oldSelf.spec.sweep.objective) && (!has(self.spec.sweep.objective) || self.spec.sweep.objective == oldSelf.spec.sweep.objective))))))";
}
