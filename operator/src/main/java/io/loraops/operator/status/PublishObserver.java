package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobCondition;
import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishSummary;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Where a publish Job stands, from its Job and pods, and whether its result verifies. Pure.
 *
 * <p>Verification: the Job re-reads and hashes its copy and reports that digest with the digest of
 * the trial folder it read. When the trial reported a digest when it finished (the normal case),
 * both must equal it: the version is exactly what was trained and evaluated. When it did not, the
 * copy must equal the source the Job read.
 */
public final class PublishObserver {

  private PublishObserver() {}

  /** What the Job is doing. */
  public enum State {
    /** No Job yet. */
    ABSENT,
    RUNNING,
    /** Done and its digest checked: the version may be published. */
    VERIFIED,
    FAILED
  }

  /**
   * @param summary the Job's report (VERIFIED)
   * @param reason CamelCase reason (FAILED)
   * @param message for people
   */
  public record Observation(State state, PublishSummary summary, String reason, String message) {
    static Observation of(State state, String reason, String message) {
      return new Observation(state, null, reason, message);
    }
  }

  /**
   * @param job the publish Job, or null
   * @param pods its pods
   * @param expectedDigest the digest the best trial reported, or null
   */
  public static Observation observe(Job job, List<Pod> pods, String expectedDigest) {
    if (job == null) {
      return Observation.of(State.ABSENT, null, "creating the publish Job");
    }
    String name = job.getMetadata().getName();
    Optional<Pod> latest = pods.stream().max(Comparator.comparing(TrialObserver::createdAt));
    Optional<ContainerStateTerminated> lastExit =
        pods.stream()
            .filter(TrialObserver::isFinished)
            .max(Comparator.comparing(TrialObserver::createdAt))
            .flatMap(TrialObserver::terminated);
    Optional<PublishSummary> summary =
        lastExit.flatMap(t -> ContractJson.parsePublishSummary(t.getMessage()));

    if (TrialObserver.jobCondition(job, "Complete").isPresent()) {
      if (latest.filter(p -> !TrialObserver.isFinished(p)).isPresent()) {
        // The Job controller saw the pod finish before our pod cache did: its update follows.
        return Observation.of(
            State.RUNNING, null, "publish Job " + name + " finished; reading its result");
      }
      if (summary.isEmpty()) {
        return Observation.of(
            State.FAILED,
            Reasons.PUBLISH_FAILED,
            "publish Job "
                + name
                + " completed but left no summary in its termination message; delete the Job to"
                + " publish again");
      }
      return verify(name, summary.get(), expectedDigest);
    }
    Optional<JobCondition> failed = TrialObserver.jobCondition(job, "Failed");
    if (failed.isPresent()) {
      String why =
          summary
              .filter(s -> !s.succeeded())
              .map(s -> s.reason() + ": " + s.message())
              .orElseGet(
                  () ->
                      failed.get().getReason()
                          + (failed.get().getMessage() == null
                              ? ""
                              : ": " + failed.get().getMessage()));
      return Observation.of(
          State.FAILED,
          Reasons.PUBLISH_FAILED,
          "publish Job "
              + name
              + " failed ("
              + why
              + "); the trial results are kept and the claimed version is not rolled out;"
              + " delete the Job to try again");
    }
    return Observation.of(
        State.RUNNING, null, "publish Job " + name + " copies the best trial's adapter");
  }

  private static Observation verify(String job, PublishSummary s, String expected) {
    String want = expected != null ? expected : s.sourceDigest();
    boolean verified =
        s.succeeded()
            && s.digest() != null
            && s.digest().equals(want)
            && (expected == null || expected.equals(s.sourceDigest()));
    if (!verified) {
      return Observation.of(
          State.FAILED,
          Reasons.DIGEST_MISMATCH,
          "publish Job "
              + job
              + " reported digest "
              + s.digest()
              + " for "
              + s.versionPath()
              + " (source "
              + s.sourceDigest()
              + "), but "
              + (expected != null ? "the trial reported " + expected : "the copy differs")
              + "; the version is not published");
    }
    return new Observation(State.VERIFIED, s, null, null);
  }
}
