package io.loraops.operator.status;

/**
 * Result of trying to publish the best trial.
 *
 * @param version the published version, when published
 * @param reason CamelCase reason when publishing was refused
 * @param message why it was refused and what to do
 */
public record PublishOutcome(Integer version, String reason, String message) {

  public static PublishOutcome notAttempted() {
    return new PublishOutcome(null, null, null);
  }

  public static PublishOutcome published(int version) {
    return new PublishOutcome(version, null, null);
  }

  public static PublishOutcome refused(String reason, String message) {
    return new PublishOutcome(null, reason, message);
  }

  public boolean isPublished() {
    return version != null;
  }

  public boolean isRefused() {
    return reason != null;
  }
}
