package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishSummary;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import java.util.List;
import org.junit.jupiter.api.Test;

class PublishObserverTest {

  static final String TRIAL = "sha256:" + "ab".repeat(32);
  static final String OTHER = "sha256:" + "ee".repeat(32);

  static Job job(String condition) {
    JobBuilder b = new JobBuilder().withNewMetadata().withName("sweep-1b2c3-pub").endMetadata();
    if (condition != null) {
      b.withNewStatus()
          .addNewCondition()
          .withType(condition)
          .withStatus("True")
          .withReason(condition.equals("Failed") ? "BackoffLimitExceeded" : null)
          .withMessage(
              condition.equals("Failed") ? "Job has reached the specified backoff limit" : null)
          .endCondition()
          .endStatus();
    }
    return b.build();
  }

  static Pod pod(String phase, String message) {
    return new PodBuilder()
        .withNewMetadata()
        .withName("sweep-1b2c3-pub-x")
        .withCreationTimestamp("2026-11-26T10:00:00Z")
        .endMetadata()
        .withNewStatus()
        .withPhase(phase)
        .addNewContainerStatus()
        .withName("trainer")
        .withNewState()
        .withNewTerminated()
        .withExitCode(phase.equals("Succeeded") ? 0 : 3)
        .withMessage(message)
        .endTerminated()
        .endState()
        .endContainerStatus()
        .endStatus()
        .build();
  }

  static String summary(String source, String copy) {
    return ContractJson.toJson(
        new PublishSummary(
            TrialConfig.CURRENT_VERSION,
            TrialSummary.SUCCEEDED,
            0,
            null,
            null,
            source,
            copy,
            "/lora/claims/adapters/bot/v1",
            null,
            null));
  }

  @Test
  void noJobYetAndARunningJob() {
    assertThat(PublishObserver.observe(null, List.of(), TRIAL).state())
        .isEqualTo(PublishObserver.State.ABSENT);
    assertThat(PublishObserver.observe(job(null), List.of(), TRIAL).state())
        .isEqualTo(PublishObserver.State.RUNNING);
  }

  @Test
  void aCopyWithTheTrialsDigestVerifies() {
    PublishObserver.Observation seen =
        PublishObserver.observe(
            job("Complete"), List.of(pod("Succeeded", summary(TRIAL, TRIAL))), TRIAL);
    assertThat(seen.state()).isEqualTo(PublishObserver.State.VERIFIED);
    assertThat(seen.summary().digest()).isEqualTo(TRIAL);
  }

  @Test
  void anyOtherDigestIsAMismatch() {
    for (String report : List.of(summary(TRIAL, OTHER), summary(OTHER, OTHER))) {
      PublishObserver.Observation seen =
          PublishObserver.observe(job("Complete"), List.of(pod("Succeeded", report)), TRIAL);
      assertThat(seen.state()).isEqualTo(PublishObserver.State.FAILED);
      assertThat(seen.reason()).isEqualTo(Reasons.DIGEST_MISMATCH);
      assertThat(seen.message()).contains(TRIAL);
    }
  }

  /** A trial that reported no digest: the Job's own re-read of its copy must match its source. */
  @Test
  void withoutATrialDigestTheCopyMustMatchTheSourceItRead() {
    assertThat(
            PublishObserver.observe(
                    job("Complete"), List.of(pod("Succeeded", summary(OTHER, OTHER))), null)
                .state())
        .isEqualTo(PublishObserver.State.VERIFIED);
    assertThat(
            PublishObserver.observe(
                    job("Complete"), List.of(pod("Succeeded", summary(TRIAL, OTHER))), null)
                .reason())
        .isEqualTo(Reasons.DIGEST_MISMATCH);
  }

  @Test
  void aFailedJobCarriesTheTrainersReasonAndHowToRetry() {
    String failure =
        ContractJson.toJson(
            PublishSummary.failure(3, "DigestMismatch", "the trial folder changed after training"));
    PublishObserver.Observation seen =
        PublishObserver.observe(job("Failed"), List.of(pod("Failed", failure)), TRIAL);
    assertThat(seen.state()).isEqualTo(PublishObserver.State.FAILED);
    assertThat(seen.reason()).isEqualTo(Reasons.PUBLISH_FAILED);
    assertThat(seen.message())
        .contains("DigestMismatch: the trial folder changed after training")
        .contains("delete the Job to try again");

    assertThat(PublishObserver.observe(job("Failed"), List.of(), TRIAL).message())
        .contains("BackoffLimitExceeded");
  }

  @Test
  void aCompleteJobWhosePodTheCacheHasNotSeenFinishIsStillRunning() {
    Pod running = pod("Running", null);
    assertThat(PublishObserver.observe(job("Complete"), List.of(running), TRIAL).state())
        .isEqualTo(PublishObserver.State.RUNNING);
    assertThat(
            PublishObserver.observe(job("Complete"), List.of(pod("Succeeded", "oops")), TRIAL)
                .reason())
        .isEqualTo(Reasons.PUBLISH_FAILED);
  }
}
