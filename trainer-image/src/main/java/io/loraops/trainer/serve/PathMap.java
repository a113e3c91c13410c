package io.loraops.trainer.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Container paths to host paths, for the local mode.
 *
 * <p>Why: in local mode the project's node agent runs pods as plain processes on the host. It
 * rewrites mount paths in a pod's command line and environment, so {@code --model} usually arrives
 * already local, but {@code lora_path} arrives later in HTTP request bodies that the operator
 * writes with in-pod paths (e.g. {@code /lora/claims/adapters/...}), which no process on the host
 * can open. The agent therefore hands the server its mounts as {@code LORAOPS_PATH_MAP} (a JSON
 * object {@code {"<in-pod mount path>": "<host path>"}}) and the server resolves every path through
 * it before reading files, while reporting paths as given (in {@code /v1/models}), as a container
 * would. In a real pod the variable is unset and paths are used as they are.
 *
 * <p>Matching is by longest whole-path prefix: {@code /data} maps {@code /data} and {@code
 * /data/x}, never {@code /database}. Pure.
 */
public final class PathMap {
  public static final String ENV = "LORAOPS_PATH_MAP";
  private static final PathMap EMPTY = new PathMap(Map.of());

  private final Map<String, String> mounts;

  public PathMap(Map<String, String> mounts) {
    Map<String, String> m = new LinkedHashMap<>();
    mounts.forEach((from, to) -> m.put(strip(from), strip(to)));
    this.mounts = Collections.unmodifiableMap(m);
  }

  /** The map in {@code json} (the value of {@link #ENV}); null or blank means none. */
  public static PathMap parse(String json) {
    if (json == null || json.isBlank()) {
      return EMPTY;
    }
    try {
      JsonNode n = new ObjectMapper().readTree(json);
      if (n != null && n.isObject()) {
        Map<String, String> m = new LinkedHashMap<>();
        for (var it = n.fields(); it.hasNext(); ) {
          var e = it.next();
          if (!e.getValue().isTextual() || e.getKey().isEmpty()) {
            throw bad(json);
          }
          m.put(e.getKey(), e.getValue().asText());
        }
        return new PathMap(m);
      }
    } catch (IOException e) {
      // reported below
    }
    throw bad(json);
  }

  /** The map of the process environment. */
  public static PathMap fromEnvironment() {
    return parse(System.getenv(ENV));
  }

  /** {@code path} with its longest mapped prefix replaced, or unchanged when none matches. */
  public String resolve(String path) {
    String best = null;
    for (String from : mounts.keySet()) {
      boolean matches =
          path.equals(from)
              || (path.startsWith(from)
                  && (from.endsWith("/") || path.charAt(from.length()) == '/'));
      if (matches && (best == null || from.length() > best.length())) {
        best = from;
      }
    }
    if (best == null) {
      return path;
    }
    String to = mounts.get(best);
    String rest = path.substring(best.length()); // "" or "/..." ("..." under the mount "/")
    if (best.equals("/") && !rest.isEmpty()) {
      rest = "/" + rest;
    }
    if (to.equals("/")) {
      return rest.isEmpty() ? "/" : rest;
    }
    return to + rest;
  }

  public Map<String, String> mounts() {
    return mounts;
  }

  private static String strip(String p) {
    return p.length() > 1 && p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
  }

  private static TrainerException bad(String json) {
    return TrainerException.badConfig(
        ENV
            + " must be a JSON object of strings {\"<in-pod path>\": \"<host path>\"}, got "
            + json);
  }
}
