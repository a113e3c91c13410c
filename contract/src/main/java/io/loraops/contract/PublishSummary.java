package io.loraops.contract;

import java.util.List;
import java.util.Map;

/**
 * What {@code lora-trainer publish} reports when it ends (the publish pod's termination message, at
 * most 4 KiB: the full rank analysis is in {@code rank-analysis.json}).
 *
 * @param contractVersion {@link TrialConfig#CURRENT_VERSION}
 * @param outcome {@link TrialSummary#SUCCEEDED} or {@link TrialSummary#FAILED}
 * @param exitCode see {@link ExitCodes}
 * @param reason CamelCase reason when failed (DigestMismatch, VersionFolderTaken, ...)
 * @param message detail when failed
 * @param sourceDigest {@link AdapterDigest} of the trial folder as the Job read it
 * @param digest {@link AdapterDigest} of the version folder, re-read after the copy
 * @param versionPath the version folder
 * @param mergedPath the merged export's folder, when made
 * @param rankAnalysis the rank analysis's summary, when asked for
 */
public record PublishSummary(
    int contractVersion,
    String outcome,
    int exitCode,
    String reason,
    String message,
    String sourceDigest,
    String digest,
    String versionPath,
    String mergedPath,
    RankSummary rankAnalysis) {

  /**
   * @param bestRank the best trial's rank
   * @param topDirections k of {@link PublishConfig.RankAnalysis}
   * @param threshold as asked
   * @param recommendedRank the smallest rank capturing at least {@code threshold} of the best
   *     trial's top-k directions on every module type (the best trial's own rank at worst)
   * @param captures per other rank, by rank
   * @param message why the analysis could not be made, when it could not
   */
  public record RankSummary(
      int bestRank,
      int topDirections,
      double threshold,
      Integer recommendedRank,
      List<Capture> captures,
      String message) {}

  /**
   * @param rank the other rank
   * @param trial its best trial
   * @param captured per module type: the share of the best trial's top-k directions that this
   *     rank's subspace holds, phi(A_best, A_rank, k, rank) averaged over layers
   */
  public record Capture(int rank, String trial, Map<String, Double> captured) {}

  public static PublishSummary failure(int exitCode, String reason, String message) {
    String shortMessage =
        message == null || message.length() <= TrialSummary.MAX_MESSAGE_CHARS
            ? message
            : message.substring(0, TrialSummary.MAX_MESSAGE_CHARS - 3) + "...";
    return new PublishSummary(
        TrialConfig.CURRENT_VERSION,
        TrialSummary.FAILED,
        exitCode,
        reason,
        shortMessage,
        null,
        null,
        null,
        null,
        null);
  }

  public boolean succeeded() {
    return TrialSummary.SUCCEEDED.equals(outcome);
  }
}
