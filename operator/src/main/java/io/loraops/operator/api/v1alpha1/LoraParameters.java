package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;
import lombok.Data;

/** The adapter's shape: h = W0·x + scale·B·A·x, scale = alpha/r (or alpha/sqrt(r) with rsLora). */
@Data
public class LoraParameters {

  @Min(1)
  @Max(1024)
  @JsonPropertyDescription("Rank r of the update B·A. Typical 4-64. Default 8.")
  private Integer rank = 8;

  @Min(value = 0, inclusive = false)
  @Max(8192)
  @JsonPropertyDescription("Scaling numerator alpha; alpha/r of 1-4 is typical. Default 16.")
  private Double alpha = 16.0;

  @Min(0)
  @Max(value = 1, inclusive = false)
  @JsonPropertyDescription("Dropout probability on the LoRA path, in [0, 1). Default 0.05.")
  private Double dropout = 0.05;

  @Size(min = 1, max = 32)
  @ValidationRule(
      value = "self.all(m, self.exists_one(n, n == m))",
      message = "lora.targetModules must not repeat a module")
  @ValidationRule(
      value = "self.all(m, m.matches('^[A-Za-z0-9_.-]{1,64}$'))",
      message = "lora.targetModules entries are module names such as q_proj, or all-linear")
  @JsonPropertyDescription(
      "Module names to adapt, as PEFT names them per family: Llama, Mistral, Qwen2/2.5, Qwen3,"
          + " Gemma 3: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; Phi-3:"
          + " qkv_proj, o_proj, gate_up_proj, down_proj; GPT-2: c_attn, c_proj, c_fc; or"
          + " all-linear. Default q_proj, v_proj.")
  private List<String> targetModules = new ArrayList<>(List.of("q_proj", "v_proj"));

  @JsonPropertyDescription(
      "Use rank-stabilised scaling alpha/sqrt(r), which keeps ranks comparable in a sweep.")
  private Boolean rsLora = false;

  @Min(1)
  @Max(64)
  @JsonPropertyDescription(
      "LoRA+: learning rate of B divided by that of A. 1 (default) is plain LoRA; 16 is the"
          + " paper's suggestion.")
  private Double loraPlusRatio = 1.0;
}
