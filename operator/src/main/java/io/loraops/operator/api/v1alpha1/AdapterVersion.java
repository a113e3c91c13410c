package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.List;
import lombok.Data;

/**
 * One immutable published version. The same record is stored, never edited, in the version's
 * ConfigMap, which is what makes history survive the loss of any status.
 */
@Data
public class AdapterVersion {

  @JsonPropertyDescription("Version number: 1, 2, 3, ... never reused.")
  private Integer version;

  @JsonPropertyDescription("sha256 digest over the adapter files.")
  private String digest;

  @JsonPropertyDescription(
      "The version folder <output>/<adapter>/v<N>/: adapter_config.json,"
          + " adapter_model.safetensors and manifest.json.")
  private String artifactUri;

  @JsonPropertyDescription(
      "The merged export (base weights with the adapter merged in, Hugging Face layout), when"
          + " spec.output.merged asked for one.")
  private String mergedUri;

  @JsonPropertyDescription("The base model it was trained on.")
  private ModelIdentity baseModel;

  @JsonPropertyDescription("LoRA rank.")
  private Integer rank;

  @JsonPropertyDescription("LoRA alpha.")
  private Double alpha;

  @JsonPropertyDescription("Adapted modules.")
  private List<String> targetModules;

  @JsonPropertyDescription("The trial's metrics.")
  private TrialMetrics metrics;

  @JsonPropertyDescription("The LoraJob and trial that produced it.")
  private VersionSource source;

  @JsonPropertyDescription("When it was published (RFC 3339).")
  private String createdAt;
}
