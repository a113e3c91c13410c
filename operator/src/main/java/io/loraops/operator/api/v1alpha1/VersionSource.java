package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import lombok.AllArgsConstructor;
import lombok.Data;
import lombok.NoArgsConstructor;

/** Where a version came from. */
@Data
@NoArgsConstructor
@AllArgsConstructor
public class VersionSource {

  @JsonPropertyDescription("The LoraJob's name.")
  private String loraJob;

  @JsonPropertyDescription("The LoraJob's uid: one LoraJob publishes at most one version.")
  private String loraJobUid;

  @JsonPropertyDescription("The trial's name.")
  private String trial;
}
