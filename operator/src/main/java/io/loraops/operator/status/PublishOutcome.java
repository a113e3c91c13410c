package io.loraops.operator.status;

import io.loraops.operator.api.v1alpha1.RankAnalysisStatus;

/**
 * Result of trying to publish the best trial.
 *
 * @param version the published version, when published
 * @param reason CamelCase reason when publishing was refused or failed
 * @param message why it was refused and what to do, or what the publish Job is doing
 * @param claimed the version number claimed while its publish Job runs
 * @param rankAnalysis the rank analysis's summary, once published after a sweep over ranks
 */
public record PublishOutcome(
    Integer version,
    String reason,
    String message,
    Integer claimed,
    RankAnalysisStatus rankAnalysis) {

  public static PublishOutcome notAttempted() {
    return new PublishOutcome(null, null, null, null, null);
  }

  public static PublishOutcome published(int version) {
    return published(version, null);
  }

  public static PublishOutcome published(int version, RankAnalysisStatus rankAnalysis) {
    return new PublishOutcome(version, null, null, null, rankAnalysis);
  }

  /** Version {@code claimed} is taken; its publish Job has not been verified yet. */
  public static PublishOutcome publishing(int claimed, String message) {
    return new PublishOutcome(null, null, message, claimed, null);
  }

  public static PublishOutcome refused(String reason, String message) {
    return new PublishOutcome(null, reason, message, null, null);
  }

  public boolean isPublished() {
    return version != null;
  }

  public boolean isRefused() {
    return reason != null;
  }

  public boolean isPublishing() {
    return claimed != null;
  }
}
