package io.loraops.trainer;

import io.loraops.contract.ExitCodes;

/**
 * A failure the trainer knows how to report: it carries the process exit code (see {@link
 * ExitCodes}) so that the operator can tell a bad config (no retry) from a crash (retry).
 */
public class TrainerException extends RuntimeException {
  private final int exitCode;

  public TrainerException(int exitCode, String message) {
    super(message);
    this.exitCode = exitCode;
  }

  public TrainerException(int exitCode, String message, Throwable cause) {
    super(message, cause);
    this.exitCode = exitCode;
  }

  public int exitCode() {
    return exitCode;
  }

  /** A problem with the trial config or the base model it points at: exit code 2. */
  public static TrainerException badConfig(String message) {
    return new TrainerException(ExitCodes.BAD_CONFIG, message);
  }

  /** A problem with the dataset: exit code 3. */
  public static TrainerException dataError(String message) {
    return new TrainerException(ExitCodes.DATA_ERROR, message);
  }
}
