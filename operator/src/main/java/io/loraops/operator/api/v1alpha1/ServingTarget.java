package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.LabelSelector;
import lombok.Data;

/** One inference Deployment, or every Deployment a selector matches. */
@Data
@ValidationRule(
    value = "has(self.deployment) != has(self.selector)",
    message = "a serving target names a deployment or gives a selector, exactly one of them")
public class ServingTarget {

  @Size(max = 253)
  @Pattern("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
  @JsonPropertyDescription("Name of an apps/v1 Deployment in this namespace.")
  private String deployment;

  @JsonPropertyDescription("Label selector over the Deployments in this namespace.")
  private LabelSelector selector;
}
