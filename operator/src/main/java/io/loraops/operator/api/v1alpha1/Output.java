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
          + " published versions point at those immutable folders.")
  private String uri;
}
