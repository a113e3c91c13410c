package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.List;
import lombok.AllArgsConstructor;
import lombok.Data;
import lombok.NoArgsConstructor;

/** The values that vary between trials. */
@Data
@NoArgsConstructor
@AllArgsConstructor
public class TrialParameters {

  @JsonPropertyDescription("LoRA rank r.")
  private Integer rank;

  @JsonPropertyDescription("LoRA alpha.")
  private Double alpha;

  @JsonPropertyDescription("Peak learning rate.")
  private Double learningRate;

  @JsonPropertyDescription("Adapted modules.")
  private List<String> targetModules;
}
