package io.loraops.operator.trainer;

/**
 * A parsed storage URI: {@code pvc://<claim>/<path>} or {@code file:///<path>}. The schema has
 * already refused anything else, so a parse failure here is a bug, not user input.
 *
 * @param claim the PersistentVolumeClaim, or null for a file:// URI
 * @param path the path inside the claim (no leading slash), or the absolute local path
 */
public record StorageUri(String claim, String path) {

  public static StorageUri parse(String uri) {
    if (uri.startsWith("pvc://")) {
      String rest = uri.substring("pvc://".length());
      int slash = rest.indexOf('/');
      return slash < 0
          ? new StorageUri(rest, "")
          : new StorageUri(rest.substring(0, slash), trimSlashes(rest.substring(slash + 1)));
    }
    if (uri.startsWith("file:///")) {
      return new StorageUri(null, "/" + trimSlashes(uri.substring("file:///".length())));
    }
    throw new IllegalArgumentException("unsupported storage URI " + uri);
  }

  public boolean isClaim() {
    return claim != null;
  }

  /** The URI of a sub-path, e.g. the trial folder under the output root. */
  public String child(String relative) {
    String joined = path.isEmpty() ? relative : path + "/" + relative;
    return isClaim() ? "pvc://" + claim + "/" + joined : "file://" + joined;
  }

  /** {@code s} without leading or trailing slashes; null counts as empty. */
  public static String trimSlashes(String s) {
    if (s == null) {
      return "";
    }
    int start = 0;
    int end = s.length();
    while (start < end && s.charAt(start) == '/') start++;
    while (end > start && s.charAt(end - 1) == '/') end--;
    return s.substring(start, end);
  }
}
