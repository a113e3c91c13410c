package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.List;
import java.util.Map;
import lombok.Data;

/** Compute for each trial pod. */
@Data
public class Resources {

  @Min(0)
  @Max(16)
  @JsonPropertyDescription("GPUs per trial pod (requests = limits). 0 runs on CPU. Default 1.")
  private Integer gpus = 1;

  @Size(max = 253)
  @Pattern("^([a-z0-9.-]+/)?[a-zA-Z0-9._-]+$")
  @JsonPropertyDescription("Extended resource name of a GPU. Default nvidia.com/gpu.")
  private String gpuResourceName = "nvidia.com/gpu";

  @Size(max = 32)
  @Pattern("^[0-9]+(\\.[0-9]+)?m?$")
  @JsonPropertyDescription("CPU request and limit per trial pod, e.g. 4 or 500m.")
  private String cpu;

  @Size(max = 32)
  @Pattern("^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")
  @JsonPropertyDescription("Memory request and limit per trial pod, e.g. 16Gi.")
  private String memory;

  @JsonPropertyDescription("Node labels a trial pod must match.")
  private Map<String, String> nodeSelector;

  @JsonPropertyDescription("Tolerations of trial pods, e.g. for tainted GPU nodes.")
  private List<Toleration> tolerations;

  @Size(max = 253)
  @JsonPropertyDescription("PriorityClass of trial pods.")
  private String priorityClassName;

  @JsonPropertyDescription("Overrides of the trainer container.")
  private TrainerOverrides trainer;
}
