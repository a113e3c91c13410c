package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import lombok.Data;

/** One key of a Secret in the resource's own namespace. */
@Data
public class SecretKeyRef {

  @Required
  @Size(max = 253)
  @Pattern("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
  @JsonPropertyDescription("Name of a Secret in this namespace.")
  private String name;

  @Size(min = 1, max = 253)
  @Pattern("^[-._a-zA-Z0-9]+$")
  @JsonPropertyDescription("The key within the Secret. Default api-key.")
  private String key = "api-key";
}
