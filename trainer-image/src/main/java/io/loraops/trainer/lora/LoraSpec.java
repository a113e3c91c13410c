package io.loraops.trainer.lora;

import java.util.List;

/**
 * The shape of an adapter, as PEFT's {@code LoraConfig} has it.
 *
 * @param rank r
 * @param alpha lora_alpha
 * @param dropout dropout on the LoRA path (training only)
 * @param targetModules module names or {@code all-linear}
 * @param rsLora scale alpha / sqrt(r) instead of alpha / r
 */
public record LoraSpec(
    int rank, double alpha, double dropout, List<String> targetModules, boolean rsLora) {

  /** The factor applied to B·A. */
  public float scale() {
    return LoraLinear.scaleFor(rank, alpha, rsLora);
  }
}
