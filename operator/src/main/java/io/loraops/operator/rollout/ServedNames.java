package io.loraops.operator.rollout;

import java.util.Optional;

/**
 * The names a version is served under. {@code support-bot-v4} names version 4 forever, so stale
 * weights are never answered under a reused name; the plain {@code support-bot} is the alias that
 * the operator re-points to the serving version, so clients never change what they ask for.
 */
public final class ServedNames {
  private ServedNames() {}

  public static String versioned(String adapter, int version) {
    return adapter + "-v" + version;
  }

  public static String alias(String adapter) {
    return adapter;
  }

  /** The version a served name stands for, if it is one of this adapter's versioned names. */
  public static Optional<Integer> versionOf(String adapter, String servedName) {
    String prefix = adapter + "-v";
    if (!servedName.startsWith(prefix)) {
      return Optional.empty();
    }
    String digits = servedName.substring(prefix.length());
    if (digits.isEmpty() || digits.length() > 9 || !digits.chars().allMatch(Character::isDigit)) {
      return Optional.empty();
    }
    return Optional.of(Integer.parseInt(digits));
  }
}
