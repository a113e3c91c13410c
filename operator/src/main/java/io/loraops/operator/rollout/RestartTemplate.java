package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The restart loader's desired pod template: the serving version written into it, so that
 * Kubernetes rolls the pods and every new pod starts with it. Three env vars on the server
 * container, which its args can reference with {@code $(VAR)} (vLLM: {@code --lora-modules
 * $(LORA_ADAPTER_SUPPORT_BOT_NAME)=$(LORA_ADAPTER_SUPPORT_BOT_PATH)
 * support-bot=$(LORA_ADAPTER_SUPPORT_BOT_PATH)}), and an annotation naming the version.
 */
public final class RestartTemplate {
  public static final String ANNOTATION_PREFIX = "loraops.io/adapter.";

  private RestartTemplate() {}

  public static String annotation(String adapter) {
    return ANNOTATION_PREFIX + adapter;
  }

  /** {@code support-bot} -> {@code LORA_ADAPTER_SUPPORT_BOT}. */
  public static String envPrefix(String adapter) {
    return "LORA_ADAPTER_" + adapter.toUpperCase(Locale.ROOT).replaceAll("[^A-Z0-9]", "_");
  }

  /** The version a template carries for the adapter, if any. */
  public static Optional<Integer> versionIn(PodTemplateSpec template, String adapter) {
    return versionIn(template.getMetadata(), adapter);
  }

  /** The version a pod (or template) carries for the adapter: pods inherit the annotation. */
  public static Optional<Integer> versionIn(ObjectMeta metadata, String adapter) {
    Map<String, String> annotations = metadata == null ? null : metadata.getAnnotations();
    String value = annotations == null ? null : annotations.get(annotation(adapter));
    try {
      return value == null ? Optional.empty() : Optional.of(Integer.parseInt(value));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  /**
   * Writes {@code version} (served at {@code path}) into {@code template}, or removes the adapter's
   * entries when {@code version} is null. Returns whether anything changed.
   */
  public static boolean apply(
      PodTemplateSpec template,
      String containerName,
      String adapter,
      Integer version,
      String path) {
    Optional<Container> container =
        ArtifactPaths.servingContainer(template.getSpec(), containerName);
    if (container.isEmpty()) {
      return false;
    }
    if (template.getMetadata() == null) {
      template.setMetadata(new ObjectMeta());
    }
    Map<String, String> annotations =
        template.getMetadata().getAnnotations() == null
            ? new LinkedHashMap<>()
            : new LinkedHashMap<>(template.getMetadata().getAnnotations());
    String prefix = envPrefix(adapter);
    List<EnvVar> env =
        new ArrayList<>(container.get().getEnv() == null ? List.of() : container.get().getEnv());
    List<EnvVar> before = List.copyOf(env);
    Map<String, String> annotationsBefore = Map.copyOf(annotations);
    env.removeIf(e -> e.getName().startsWith(prefix + "_"));
    if (version == null) {
      annotations.remove(annotation(adapter));
    } else {
      annotations.put(annotation(adapter), String.valueOf(version));
      env.add(new EnvVar(prefix + "_NAME", ServedNames.versioned(adapter, version), null));
      env.add(new EnvVar(prefix + "_PATH", path, null));
      env.add(new EnvVar(prefix + "_ALIAS", ServedNames.alias(adapter), null));
    }
    if (before.equals(env) && annotationsBefore.equals(annotations)) {
      return false;
    }
    container.get().setEnv(env);
    template.getMetadata().setAnnotations(annotations);
    return true;
  }
}
