package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Size;
import io.fabric8.kubernetes.api.model.EnvVar;
import java.util.List;
import lombok.Data;

/** Per-job overrides of the trainer container the operator runs. */
@Data
public class TrainerOverrides {

  @Size(max = 512)
  @JsonPropertyDescription("Trainer image; default: the operator's configured trainer image.")
  private String image;

  @JsonPropertyDescription("Image pull policy of the trainer container.")
  private PullPolicy imagePullPolicy;

  @JsonPropertyDescription("Extra environment variables of the trainer container.")
  private List<EnvVar> env;

  @Size(max = 253)
  @JsonPropertyDescription("ServiceAccount the trial pods run as (e.g. for storage credentials).")
  private String serviceAccountName;

  /** Kubernetes image pull policies. */
  public enum PullPolicy {
    Always,
    IfNotPresent,
    Never
  }
}
