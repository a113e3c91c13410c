package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.IntOrString;
import lombok.Data;

/** Which base the adapter belongs to and which version should be served. */
@Data
public class LoraAdapterSpec {

  @Required
  @JsonPropertyDescription(
      "The base model every version must have been trained on; versions for another base are"
          + " refused.")
  private ModelIdentity baseModel;

  @ValidationRule(
      value = "type(self) == int ? self >= 1 : self == 'latest'",
      message = "version must be a version number (1, 2, ...) or latest")
  @JsonPropertyDescription(
      "The version to serve: a number pins it (the GitOps form: bump it in git to roll out), or"
          + " latest follows each new version. Default latest.")
  private IntOrString version = new IntOrString("latest");

  @JsonPropertyDescription(
      "Inference Deployments to roll the version out to, and how. Without it versions are only"
          + " recorded.")
  private Serving serving;
}
