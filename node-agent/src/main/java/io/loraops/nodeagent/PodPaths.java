package io.loraops.nodeagent;

import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a pod's mount paths are on this machine. A local process cannot see {@code /etc/loraops} or
 * {@code /lora/claims/models} the way a container does, so the agent rewrites those paths, in the
 * command line, the environment and the files it materializes from ConfigMaps, to the local folders
 * that back them. Only whole path prefixes are rewritten ({@code /tmp} never matches {@code
 * /tmpfoo}). Pure.
 */
final class PodPaths {

  private final Map<String, Path> mounts = new LinkedHashMap<>();

  /** Maps the container path {@code mountPath} to the local folder or file {@code local}. */
  PodPaths mount(String mountPath, Path local) {
    mounts.put(stripTrailingSlash(mountPath), local);
    return this;
  }

  /** Rewrites every mounted path in {@code text}, longest mount first. */
  String rewrite(String text) {
    String result = text;
    for (Map.Entry<String, Path> m :
        mounts.entrySet().stream()
            .sorted(
                Comparator.comparingInt((Map.Entry<String, Path> e) -> e.getKey().length())
                    .reversed())
            .toList()) {
      // A mount path counts where it starts a path: at the start of the text or after a quote,
      // space, '=' or ':', and where it ends one: before '/', a quote, space, ':', or the end.
      Pattern p =
          Pattern.compile(
              "(?<=^|[\"'\\s=:])" + Pattern.quote(m.getKey()) + "(?=/|[\"'\\s:]|$)",
              Pattern.MULTILINE);
      result = p.matcher(result).replaceAll(Matcher.quoteReplacement(m.getValue().toString()));
    }
    return result;
  }

  private static String stripTrailingSlash(String path) {
    return path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
  }
}
