package io.loraops.nodeagent;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarSource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceFieldSelector;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A container's environment as the kubelet computes it: {@code envFrom} first, then {@code env}
 * with literal values' {@code $(VAR)} references expanded, the downward API ({@code fieldRef},
 * {@code resourceFieldRef}) and ConfigMap and Secret keys. Pure: ConfigMaps and Secrets are read
 * through {@link Refs}.
 */
final class PodEnv {
  private PodEnv() {}

  /**
   * Names the agent's mapping from container paths to local paths, for the process itself: a JSON
   * object {@code {"<volumeMount mountPath>": "<absolute local path>"}} with one entry per volume
   * mount of the container (after subPath), the same mapping the agent applies to the command line,
   * the environment and ConfigMap files. A server reads it to resolve paths that reach it at run
   * time (a LoRA adapter path in an HTTP request), which the agent cannot rewrite. Always set; it
   * replaces a value the pod spec gives.
   */
  static final String PATH_MAP_ENV = "LORAOPS_PATH_MAP";

  /** Reads ConfigMaps and Secrets (decoded) of the pod's namespace; null where one is missing. */
  interface Refs {
    Map<String, String> configMap(String name);

    Map<String, String> secret(String name);
  }

  private static final Pattern MAP_KEY =
      Pattern.compile("metadata\\.(labels|annotations)\\['(.+)'\\]");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** What the API server accepts as an environment variable name. */
  private static final Pattern ENV_NAME = Pattern.compile("[-._a-zA-Z][-._a-zA-Z0-9]*");

  /**
   * The container's environment, in spec order ({@code envFrom} before {@code env}, a later
   * definition replacing an earlier one), as the kubelet computes it: a literal value may refer to
   * variables defined before it as {@code $(NAME)}; values from {@code valueFrom} and {@code
   * envFrom} are used as they are.
   *
   * @param podIp the pod's IP, for {@code status.podIP}
   * @param nodeCapacity the node's allocatable, for a {@code limits.*} reference with no limit
   * @throws IllegalArgumentException with a message for the user when a reference cannot be
   *     resolved (a missing ConfigMap key, an unsupported field)
   */
  static Map<String, String> resolve(
      Pod pod, Container container, String podIp, Map<String, Quantity> nodeCapacity, Refs refs) {
    Map<String, String> env = new LinkedHashMap<>();
    for (EnvFromSource from :
        container.getEnvFrom() == null ? List.<EnvFromSource>of() : container.getEnvFrom()) {
      envFrom(from, refs, env);
    }
    for (EnvVar e : container.getEnv() == null ? List.<EnvVar>of() : container.getEnv()) {
      String value;
      if (e.getValueFrom() == null) {
        value = expand(e.getValue() == null ? "" : e.getValue(), env);
      } else {
        value = valueFrom(e.getName(), e.getValueFrom(), pod, container, podIp, nodeCapacity, refs);
        if (value == null) {
          continue; // an optional reference to a missing key: the variable is not set
        }
      }
      env.put(e.getName(), value);
    }
    return env;
  }

  /**
   * Every key of a ConfigMap or Secret, prefixed, as the kubelet adds them before {@code env}; keys
   * that are not valid variable names are skipped, as the kubelet does.
   */
  private static void envFrom(EnvFromSource from, Refs refs, Map<String, String> env) {
    String kind = from.getConfigMapRef() != null ? "configmap" : "secret";
    String name =
        from.getConfigMapRef() != null
            ? from.getConfigMapRef().getName()
            : from.getSecretRef() == null ? null : from.getSecretRef().getName();
    if (name == null) {
      return;
    }
    Boolean optional =
        from.getConfigMapRef() != null
            ? from.getConfigMapRef().getOptional()
            : from.getSecretRef().getOptional();
    Map<String, String> data =
        from.getConfigMapRef() != null ? refs.configMap(name) : refs.secret(name);
    if (data == null) {
      if (Boolean.TRUE.equals(optional)) {
        return;
      }
      throw new IllegalArgumentException("envFrom: " + kind + " \"" + name + "\" not found");
    }
    String prefix = from.getPrefix() == null ? "" : from.getPrefix();
    new java.util.TreeMap<>(data)
        .forEach(
            (key, value) -> {
              if (ENV_NAME.matcher(prefix + key).matches()) {
                env.put(prefix + key, value);
              }
            });
  }

  private static String valueFrom(
      String name,
      EnvVarSource from,
      Pod pod,
      Container container,
      String podIp,
      Map<String, Quantity> nodeCapacity,
      Refs refs) {
    if (from.getFieldRef() != null) {
      return fieldRef(pod, podIp, from.getFieldRef().getFieldPath());
    }
    if (from.getResourceFieldRef() != null) {
      return resourceFieldRef(container, from.getResourceFieldRef(), nodeCapacity);
    }
    if (from.getConfigMapKeyRef() != null) {
      var ref = from.getConfigMapKeyRef();
      return keyRef(
          name,
          "configmap",
          ref.getName(),
          ref.getKey(),
          ref.getOptional(),
          refs.configMap(ref.getName()));
    }
    if (from.getSecretKeyRef() != null) {
      var ref = from.getSecretKeyRef();
      return keyRef(
          name,
          "secret",
          ref.getName(),
          ref.getKey(),
          ref.getOptional(),
          refs.secret(ref.getName()));
    }
    throw new IllegalArgumentException(
        "env "
            + name
            + ": the local node agent supports fieldRef, resourceFieldRef,"
            + " configMapKeyRef and secretKeyRef");
  }

  /** A configMapKeyRef or secretKeyRef: the key's value; missing and not optional is an error. */
  private static String keyRef(
      String env,
      String kind,
      String object,
      String key,
      Boolean optional,
      Map<String, String> data) {
    String value = data == null ? null : data.get(key);
    if (value == null && !Boolean.TRUE.equals(optional)) {
      throw new IllegalArgumentException(
          "env " + env + ": key \"" + key + "\" not found in " + kind + " \"" + object + "\"");
    }
    return value;
  }

  /**
   * A downward API field, as an environment variable sees it. {@code status.podIPs} and {@code
   * status.hostIPs} are comma-separated lists, here of one address.
   */
  static String fieldRef(Pod pod, String podIp, String fieldPath) {
    var meta = pod.getMetadata();
    Matcher m = MAP_KEY.matcher(fieldPath);
    if (m.matches()) {
      Map<String, String> map =
          m.group(1).equals("labels") ? meta.getLabels() : meta.getAnnotations();
      return map == null ? "" : map.getOrDefault(m.group(2), "");
    }
    return switch (fieldPath) {
      case "metadata.name" -> meta.getName();
      case "metadata.namespace" -> meta.getNamespace();
      case "metadata.uid" -> meta.getUid();
      case "spec.nodeName" -> pod.getSpec().getNodeName();
      case "spec.serviceAccountName" ->
          pod.getSpec().getServiceAccountName() == null
              ? "default"
              : pod.getSpec().getServiceAccountName();
      case "status.podIP", "status.podIPs" -> podIp;
      case "status.hostIP", "status.hostIPs" -> PodIps.HOST_IP;
      default ->
          throw new IllegalArgumentException(
              "fieldRef "
                  + fieldPath
                  + " is not supported by the local node agent; use metadata.name, metadata.namespace,"
                  + " metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName,"
                  + " spec.serviceAccountName, status.podIP(s) or status.hostIP(s)");
    };
  }

  /**
   * A container's resource, divided by the divisor and rounded up, as the kubelet reports it: a
   * {@code limits.*} reference with no limit gets the node's allocatable; a {@code requests.*}
   * reference with no request gets the limit (the API server's default).
   */
  static String resourceFieldRef(
      Container container, ResourceFieldSelector ref, Map<String, Quantity> nodeCapacity) {
    String resource = ref.getResource();
    int dot = resource.indexOf('.');
    String kind = dot < 0 ? "limits" : resource.substring(0, dot);
    String name = resource.substring(dot + 1);
    var resources = container.getResources();
    Quantity q = null;
    if (resources != null) {
      if (kind.equals("requests") && resources.getRequests() != null) {
        q = resources.getRequests().get(name);
      }
      if (q == null && resources.getLimits() != null) {
        q = resources.getLimits().get(name);
      }
    }
    if (q == null && nodeCapacity != null) {
      q = nodeCapacity.get(name);
    }
    BigDecimal amount =
        q != null
            ? q.getNumericalAmount()
            : name.equals("cpu")
                ? BigDecimal.valueOf(Runtime.getRuntime().availableProcessors())
                : BigDecimal.ZERO;
    BigDecimal divisor =
        ref.getDivisor() == null || ref.getDivisor().getAmount() == null
            ? BigDecimal.ONE
            : ref.getDivisor().getNumericalAmount();
    return amount.divide(divisor, 0, RoundingMode.CEILING).toPlainString();
  }

  /**
   * Kubernetes' {@code $(VAR)} expansion (k8s.io/kubernetes third_party/forked/golang/expansion):
   * {@code $(NAME)} becomes the value of NAME when it is defined and stays as written otherwise;
   * {@code $$} is an escaped {@code $}; a {@code $} before anything else, or an unclosed {@code
   * $(}, stays as written.
   */
  static String expand(String input, Map<String, String> vars) {
    StringBuilder out = new StringBuilder();
    int checkpoint = 0;
    for (int cursor = 0; cursor < input.length(); cursor++) {
      if (input.charAt(cursor) != '$' || cursor + 1 >= input.length()) {
        continue;
      }
      out.append(input, checkpoint, cursor);
      char next = input.charAt(cursor + 1);
      int advance;
      if (next == '$') {
        out.append('$');
        advance = 1;
      } else if (next == '(') {
        int close = input.indexOf(')', cursor + 2);
        if (close < 0) {
          out.append("$(");
          advance = 1;
        } else {
          String name = input.substring(cursor + 2, close);
          String value = vars.get(name);
          out.append(value != null ? value : "$(" + name + ")");
          advance = close - cursor;
        }
      } else {
        out.append('$').append(next);
        advance = 1;
      }
      cursor += advance;
      checkpoint = cursor + 1;
    }
    return out.append(input.substring(checkpoint)).toString();
  }

  /** {@code mounts} (mount path -> local path) as the JSON object {@link #PATH_MAP_ENV} holds. */
  static String pathMapJson(Map<String, Path> mounts) {
    Map<String, String> json = new LinkedHashMap<>();
    mounts.forEach((mountPath, local) -> json.put(mountPath, local.toString()));
    try {
      return JSON.writeValueAsString(json);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
