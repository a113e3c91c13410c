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
 * A LoRA fine-tuning sweep: one trainer Job per trial, the best trial published as a new version
 * of a {@link LoraAdapter}.
 */
@Group(LoraJob.GROUP)
@Version(LoraJob.VERSION)
@Categories("lora")
@ShortNames("lj")
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Trials", jsonPath = ".status.progress", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Best Rank", jsonPath = ".status.bestTrial.rank", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Best Eval Loss", jsonPath = ".status.bestTrial.evalLoss", type = AdditionalPrinterColumn.Type.NUMBER)
@AdditionalPrinterColumn(name = "Version", jsonPath = ".status.publishedVersion", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
// Conditions are selected by type, never by list index (their order is not part of the API).
@AdditionalPrinterColumn(name = "Complete", jsonPath = ".status.conditions[?(@.type==\"Complete\")].status", type = AdditionalPrinterColumn.Type.STRING, priority = 1)
@AdditionalPrinterColumn(name = "Reason", jsonPath = ".status.conditions[?(@.type==\"Complete\")].reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1)
@ValidationRule(value = "size(self.metadata.name) <= 52", message = "a LoraJob name has at most 52 characters (it prefixes its trial Job names, which have at most 63)")
@ValidationRule(value = LoraJob.TRIAL_SHAPING_FIELDS_IMMUTABLE, message = "spec.adapter, baseModel, dataset, lora, training, output and the sweep's values cannot change once trials exist (sweep.parallelism, resources and suspend can); create a new LoraJob instead")
public class LoraJob extends CustomResource<LoraJobSpec, LoraJobStatus> implements Namespaced {

  public static final String GROUP = "loraops.io";
  public static final String VERSION = "v1alpha1";

  // Optional field selection (`.?`) makes an absent field equal only to an absent field.
  static final String TRIAL_SHAPING_FIELDS_IMMUTABLE =
      "!has(oldSelf.status) || !has(oldSelf.status.trials) || size(oldSelf.status.trials) == 0"
          + " || (self.spec.adapter == oldSelf.spec.adapter"
          + " && self.spec.baseModel == oldSelf.spec.baseModel"
          + " && self.spec.dataset == oldSelf.spec.dataset"
          + " && self.spec.?lora == oldSelf.spec.?lora"
          + " && self.spec.training == oldSelf.spec.training"
          + " && self.spec.output == oldSelf.spec.output"
          + " && self.spec.?sweep.?rank == oldSelf.spec.?sweep.?rank"
          + " && self.spec.?sweep.?alpha == oldSelf.spec.?sweep.?alpha"
          + " && self.spec.?sweep.?alphaPerRank == oldSelf.spec.?sweep.?alphaPerRank"
          + " && self.spec.?sweep.?learningRate == oldSelf.spec.?sweep.?learningRate"
          + " && self.spec.?sweep.?targetModules == oldSelf.spec.?sweep.?targetModules"
          + " && self.spec.?sweep.?strategy == oldSelf.spec.?sweep.?strategy"
          + " && self.spec.?sweep.?maxTrials == oldSelf.spec.?sweep.?maxTrials"
          + " && self.spec.?sweep.?seed == oldSelf.spec.?sweep.?seed"
          + " && self.spec.?sweep.?objective == oldSelf.spec.?sweep.?objective)";
}
