package io.loraops.nodeagent;

import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

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
    mounts.put(normalize(mountPath), local);
    return this;
  }

  /**
   * Rewrites every mounted path in {@code text} in one pass, longest mount first. One pass matters:
   * a local folder may itself start with a mount path (a checkout under /tmp, with /tmp mounted),
   * and must not be rewritten again.
   */
  String rewrite(String text) {
    if (mounts.isEmpty()) {
      return text;
    }
    String alternatives =
        mounts.keySet().stream()
            .sorted(Comparator.comparingInt(String::length).reversed())
            .map(Pattern::quote)
            .collect(Collectors.joining("|"));
    // A mount path counts where it starts a path (at the start of the text or after a quote,
    // space, '=', ':', or shell punctuation: '>', '<', '(', ';', ',') and ends one (before '/', a
    // quote, space, ':', shell punctuation: ';', ',', ')', '&', '|', '>', '<', or the end).
    Pattern p =
        Pattern.compile(
            "(?<=^|[\"'\\s=:><(;,])(" + alternatives + ")(?=/|[\"'\\s:;,)&|><]|$)",
            Pattern.MULTILINE);
    Matcher m = p.matcher(text);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(mounts.get(m.group(1)).toString()));
    }
    m.appendTail(out);
    return out.toString();
  }

  /** A mount path as the agent keys it: without a trailing slash. */
  static String normalize(String path) {
    return path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
  }
}
