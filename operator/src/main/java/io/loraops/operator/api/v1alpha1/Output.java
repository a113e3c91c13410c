package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import lombok.Data;

/** Storage for trial outputs and published adapter versions. */
@Data
public class Output {

  @Required
  @Size(max = 2048)
  @ValidationRule(value = Uris.SUPPORTED, message = Uris.SUPPORTED_MESSAGE)
  @JsonPropertyDescription(
      "Storage root. Trial i of this job writes <uri>/<adapter>/trials/<job>-<uid>/<trial>/;"
          + " publishing copies the best trial's adapter to <uri>/<adapter>/v<N>/ (with"
          + " manifest.json, and rank-analysis.json/.svg after a sweep over ranks), where the"
          + " version points.")
  private String uri;

  @JsonPropertyDescription(
      "Also export each published version as a full model with the adapter merged into the base"
          + " weights (W' = W0 + scale B A, Hugging Face layout) to <uri>/<adapter>/v<N>/merged/,"
          + " recorded as the version's mergedUri: serves with no LoRA overhead. Default false.")
  private Boolean merged;
}
