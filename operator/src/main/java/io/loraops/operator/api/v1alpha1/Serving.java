package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.ArrayList;
import java.util.List;
import lombok.Data;

/** Where and how the adapter's serving version is rolled out. */
@Data
public class Serving {

  @Required
  @Size(min = 1, max = 16)
  @JsonPropertyDescription(
      "Inference Deployments (in this namespace) that serve the adapter: each by name or by label"
          + " selector.")
  private List<ServingTarget> targets = new ArrayList<>();

  @JsonPropertyDescription(
      "How a version reaches the pods. hotLoad (default): the server's runtime adapter API"
          + " (vLLM-compatible POST /v1/load_lora_adapter) on every ready pod, with canary steps."
          + " restart: the version's path goes into the pod template (env + annotation) and"
          + " Kubernetes rolls the pods.")
  private Loader loader = Loader.hotLoad;

  @Min(1)
  @Max(65535)
  @JsonPropertyDescription("The inference server's HTTP port in the pods. Default 8000.")
  private Integer port = 8000;

  @Size(max = 63)
  @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
  @JsonPropertyDescription(
      "The server container, when the pods have several. Default: the first container.")
  private String container;

  @JsonPropertyDescription(
      "The servers' API key (vLLM --api-key / VLLM_API_KEY): sent as a bearer token on every"
          + " call the operator makes to them. Read on each reconcile, so a rotated key is picked"
          + " up within a resync.")
  private SecretKeyRef apiKeySecretRef;

  @JsonPropertyDescription("Canary steps, gates and rollback.")
  private Rollout rollout = new Rollout();

  /** Ways to get a version onto the pods. */
  public enum Loader {
    hotLoad,
    restart
  }
}
