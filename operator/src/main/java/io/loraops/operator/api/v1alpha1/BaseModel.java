package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import lombok.Data;

/** A base model: its identity (name, revision) and where its files are. */
@Data
public class BaseModel {

  @Required
  @Size(min = 1, max = 253)
  @JsonPropertyDescription(
      "Logical name of the base model (e.g. meta-llama/Llama-3.1-8B). Adapters record it, and a"
          + " LoraAdapter refuses versions trained on another base.")
  private String name;

  @Required
  @Size(max = 2048)
  @ValidationRule(value = Uris.SUPPORTED, message = Uris.SUPPORTED_MESSAGE)
  @JsonPropertyDescription(
      "Folder holding config.json, *.safetensors and tokenizer.json: pvc://<claim>/<path> or,"
          + " in local mode, file:///<path>.")
  private String uri;

  @Size(max = 128)
  @JsonPropertyDescription(
      "Optional revision or digest of the base model, recorded with each version.")
  private String revision;
}
