package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import lombok.AllArgsConstructor;
import lombok.Data;
import lombok.NoArgsConstructor;

/** A base model's identity, without its location. */
@Data
@NoArgsConstructor
@AllArgsConstructor
public class ModelIdentity {

  @Required
  @Size(min = 1, max = 253)
  @JsonPropertyDescription("Logical name of the base model.")
  private String name;

  @Size(max = 128)
  @JsonPropertyDescription("Revision or digest; when set, versions must match it too.")
  private String revision;

  /** Whether an adapter trained on {@code trainedOn} may be used with this base. */
  public boolean accepts(ModelIdentity trainedOn) {
    return name.equals(trainedOn.getName())
        && (revision == null || revision.equals(trainedOn.getRevision()));
  }

  @Override
  public String toString() {
    return revision == null ? name : name + "@" + revision;
  }
}
