package io.loraops.contract;

import java.util.List;

/**
 * What a trainer process reports when it ends, written to the pod's termination message.
 *
 * <p>Kubernetes keeps at most 4096 bytes of a termination message, so this record stays small:
 * numbers and short strings only, the file list capped at {@link #MAX_FILES}. Everything larger
 * (per-step history) goes to {@code metrics.json} in the output folder.
 *
 * @param contractVersion {@link TrialConfig#CURRENT_VERSION}
 * @param outcome {@code Succeeded} or {@code Failed}
 * @param exitCode the process exit code, see {@link ExitCodes}
 * @param reason CamelCase reason when failed (e.g. {@code BadConfig}, {@code OutOfMemory})
 * @param message human-readable detail when failed, at most {@link #MAX_MESSAGE_CHARS} chars
 * @param metrics training results
 * @param digest {@code sha256:<hex>} over the adapter files, in name order
 * @param files the adapter files (names relative to artifactPath)
 * @param artifactPath folder holding the adapter, as the trainer saw it
 */
public record TrialSummary(
    int contractVersion,
    String outcome,
    int exitCode,
    String reason,
    String message,
    Metrics metrics,
    String digest,
    List<String> files,
    String artifactPath) {

  public static final String SUCCEEDED = "Succeeded";
  public static final String FAILED = "Failed";
  public static final int MAX_FILES = 8;
  public static final int MAX_MESSAGE_CHARS = 1024;

  /**
   * @param trainLoss mean training loss over the last logging window
   * @param evalLoss final evaluation loss (the default sweep objective)
   * @param bestEvalLoss lowest evaluation loss seen during training
   * @param perplexity exp(evalLoss)
   * @param steps optimizer steps taken
   * @param tokensPerSecond training throughput
   * @param trainableParameters number of LoRA parameters
   * @param adapterBytes size of the adapter files in bytes
   * @param durationSeconds wall time of the trainer process
   */
  public record Metrics(
      Double trainLoss,
      Double evalLoss,
      Double bestEvalLoss,
      Double perplexity,
      Long steps,
      Double tokensPerSecond,
      Long trainableParameters,
      Long adapterBytes,
      Double durationSeconds) {}

  /** A failed run's summary. */
  public static TrialSummary failure(int exitCode, String reason, String message) {
    String shortMessage =
        message == null || message.length() <= MAX_MESSAGE_CHARS
            ? message
            : message.substring(0, MAX_MESSAGE_CHARS - 3) + "...";
    return new TrialSummary(
        TrialConfig.CURRENT_VERSION,
        FAILED,
        exitCode,
        reason,
        shortMessage,
        null,
        null,
        List.of(),
        null);
  }

  public boolean succeeded() {
    return SUCCEEDED.equals(outcome);
  }
}
