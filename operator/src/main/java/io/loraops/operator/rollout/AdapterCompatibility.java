package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Whether a server can serve a version, decided before any load call from the version's record and
 * what the target serves. vLLM does not refuse everything it cannot serve: an adapter for another
 * base model is loaded (vLLM ignores {@code base_model_name_or_path}) and answers from the wrong
 * weights, and a rank above {@code --max-lora-rank} is a 500 from inside the engine. So the
 * operator refuses both itself, naming the field.
 */
public final class AdapterCompatibility {
  /** vLLM's {@code --max-lora-rank} when the flag is not given. */
  static final int VLLM_DEFAULT_MAX_LORA_RANK = 16;

  private AdapterCompatibility() {}

  /**
   * Why {@code version} cannot be served by a server whose base model is {@code served} (its {@code
   * /v1/models} id and root) with LoRA rank limit {@code maxLoraRank} (null: unknown), or empty
   * when it can.
   */
  public static Optional<String> check(
      AdapterVersion version, InferenceServer.Models served, Integer maxLoraRank) {
    String trainedOn = version.getBaseModel() == null ? null : version.getBaseModel().getName();
    if (trainedOn != null
        && served.baseId() != null
        && !trainedOn.equals(served.baseId())
        && !trainedOn.equals(served.baseRoot())) {
      return Optional.of(
          "version "
              + version.getVersion()
              + " was trained on baseModel.name "
              + trainedOn
              + " but the server serves "
              + served.baseId()
              + (served.baseRoot() == null || served.baseRoot().equals(served.baseId())
                  ? ""
                  : " (" + served.baseRoot() + ")"));
    }
    if (maxLoraRank != null && version.getRank() != null && version.getRank() > maxLoraRank) {
      return Optional.of(
          "version "
              + version.getVersion()
              + " has rank "
              + version.getRank()
              + ", above the server's --max-lora-rank "
              + maxLoraRank);
    }
    return Optional.empty();
  }

  /**
   * The LoRA rank limit of the server in {@code container} of {@code deployment}: its {@code
   * --max-lora-rank} flag; a vLLM server ({@code --enable-lora}) without the flag has vLLM's
   * default; null when neither is on the command line (a server with no limit, or one whose command
   * line does not say).
   */
  public static Integer maxLoraRank(Deployment deployment, String containerName) {
    Container container = serving(deployment, containerName);
    if (container == null) {
      return null;
    }
    List<String> words = new ArrayList<>();
    if (container.getCommand() != null) {
      words.addAll(container.getCommand());
    }
    if (container.getArgs() != null) {
      words.addAll(container.getArgs());
    }
    boolean vllm = false;
    for (int i = 0; i < words.size(); i++) {
      String word = words.get(i);
      if (word.startsWith("--max-lora-rank=")) {
        return parse(word.substring("--max-lora-rank=".length()));
      }
      if (word.equals("--max-lora-rank") && i + 1 < words.size()) {
        return parse(words.get(i + 1));
      }
      vllm |= word.equals("--enable-lora");
    }
    return vllm ? VLLM_DEFAULT_MAX_LORA_RANK : null;
  }

  private static Integer parse(String value) {
    try {
      return Integer.valueOf(value.strip());
    } catch (NumberFormatException e) {
      return null; // an $(ENV) reference or a typo: the server itself will say
    }
  }

  private static Container serving(Deployment deployment, String containerName) {
    if (deployment == null
        || deployment.getSpec() == null
        || deployment.getSpec().getTemplate() == null
        || deployment.getSpec().getTemplate().getSpec() == null) {
      return null;
    }
    List<Container> containers = deployment.getSpec().getTemplate().getSpec().getContainers();
    return containers.stream()
        .filter(c -> containerName == null || containerName.equals(c.getName()))
        .findFirst()
        .orElse(null);
  }
}
