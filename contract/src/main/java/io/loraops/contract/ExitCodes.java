package io.loraops.contract;

/**
 * Exit codes of the trainer process. The operator maps them to trial failure reasons, and a pod
 * failure policy can use them to stop retrying errors that a retry cannot fix.
 */
public final class ExitCodes {
  public static final int OK = 0;
  public static final int OTHER = 1;
  public static final int BAD_CONFIG = 2;
  public static final int DATA_ERROR = 3;
  public static final int OUT_OF_MEMORY = 4;

  private ExitCodes() {}

  /** The CamelCase reason the operator shows for an exit code. */
  public static String reason(int exitCode) {
    return switch (exitCode) {
      case OK -> "Completed";
      case BAD_CONFIG -> "BadConfig";
      case DATA_ERROR -> "DataError";
      case OUT_OF_MEMORY -> "OutOfMemory";
      default -> "TrainerError";
    };
  }

  /** Whether running the same config again cannot help (bad config or bad data). */
  public static boolean isPermanent(int exitCode) {
    return exitCode == BAD_CONFIG || exitCode == DATA_ERROR;
  }
}
