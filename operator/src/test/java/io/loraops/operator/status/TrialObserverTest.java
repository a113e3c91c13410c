package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.loraops.contract.ContractJson;
import io.loraops.contract.TrialSummary;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.sweep.Trial;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Trial status from Job and Pod fixtures as the Job controller and kubelet leave them. */
class TrialObserverTest {

  static final Trial TRIAL = new Trial(1, "t001", 8, 16.0, 2e-4, List.of("q_proj", "v_proj"));
  static final String SUMMARY =
      ContractJson.toJson(
          new TrialSummary(
              1,
              "Succeeded",
              0,
              null,
              null,
              new TrialSummary.Metrics(1.9, 2.1, 2.05, 8.17, 100L, 950.0, 9216L, 37000L, 61.5),
              "sha256:abc",
              List.of("adapter_config.json", "adapter_model.safetensors"),
              "/x"));

  @Test
  void noJobMeansWaitingForASlot() {
    TrialStatus status = observe(null, List.of(), null);
    assertThat(status.getPhase()).isEqualTo("Waiting");
    assertThat(status.getParameters().getRank()).isEqualTo(8);
  }

  @Test
  void unschedulablePodSaysWhy() {
    TrialStatus status =
        observe(
            job(""),
            List.of(
                pod(
                    """
        phase: Pending
        conditions:
        - type: PodScheduled
          status: "False"
          reason: Unschedulable
          message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
        """)),
            null);
    assertThat(status.getPhase()).isEqualTo("Pending");
    assertThat(status.getReason()).isEqualTo("Unschedulable");
    assertThat(status.getMessage()).contains("Insufficient nvidia.com/gpu");
  }

  @Test
  void imagePullProblemsShowTheirReason() {
    TrialStatus status =
        observe(
            job(""),
            List.of(
                pod(
                    """
        phase: Pending
        conditions: [{type: PodScheduled, status: "True"}]
        containerStatuses:
        - name: trainer
          ready: false
          restartCount: 0
          image: x
          imageID: ""
          state: {waiting: {reason: ImagePullBackOff, message: "Back-off pulling image x"}}
        """)),
            null);
    assertThat(status.getReason()).isEqualTo("ImagePullBackOff");
  }

  @Test
  void runningPodIsTraining() {
    TrialStatus status =
        observe(
            job("active: 1\nstartTime: '2026-11-22T06:00:00Z'"),
            List.of(pod("phase: Running")),
            null);
    assertThat(status.getPhase()).isEqualTo("Running");
    assertThat(status.getReason()).isEqualTo("Training");
    assertThat(status.getAttempts()).isEqualTo(1);
    assertThat(status.getStartTime()).isEqualTo("2026-11-22T06:00:00Z");
  }

  @Test
  void succeededJobCarriesTheTrainersMetrics() {
    TrialStatus status =
        observe(complete(), List.of(finished("Succeeded", 0, "Completed", SUMMARY)), null);
    assertThat(status.getPhase()).isEqualTo("Succeeded");
    assertThat(status.getMetrics().getEvalLoss()).isEqualTo(2.1);
    assertThat(status.getMetrics().getTrainableParameters()).isEqualTo(9216L);
    assertThat(status.getDigest()).isEqualTo("sha256:abc");
    assertThat(status.getArtifactUri()).isEqualTo("pvc://adapters/x/t001");
    assertThat(status.getCompletionTime()).isEqualTo("2026-11-22T06:10:00Z");
  }

  @Test
  void aCompleteJobWhosePodStillLooksRunningIsNotJudgedYet() {
    // The pod cache lags the Job's: the summary is on its way, not missing.
    Instant completed = Instant.parse("2026-11-22T06:10:00Z");
    TrialStatus status =
        observe(complete(), List.of(pod("phase: Running")), null, completed.plusSeconds(5));
    assertThat(status.getPhase()).isEqualTo("Running");
    assertThat(status.getReason()).isEqualTo("Finishing");
    // Not forever: a pod that still looks running a minute after its Job completed will not
    // bring a summary.
    TrialStatus late =
        observe(complete(), List.of(pod("phase: Running")), null, completed.plusSeconds(61));
    assertThat(late.getReason()).isEqualTo("MissingSummary");
    assertThat(late.getMessage()).contains("never showed as finished");
  }

  @Test
  void aCompleteJobWithNoPodInTheCacheWaitsForItUntilTheGraceRunsOut() {
    // After an API server restart the pod cache may relist long after the Job cache: the pod is
    // on its way, and judging now would record "no summary" for good.
    Instant completed = Instant.parse("2026-11-22T06:10:00Z");
    TrialStatus early = observe(complete(), List.of(), null, completed.plusSeconds(5));
    assertThat(early.getPhase()).isEqualTo("Running");
    assertThat(early.getReason()).isEqualTo("Finishing");
    // A pod still missing a minute after its Job completed was deleted: nothing to wait for.
    TrialStatus late = observe(complete(), List.of(), null, completed.plusSeconds(61));
    assertThat(late.getReason()).isEqualTo("MissingSummary");
    assertThat(late.getMessage()).contains("its pod is gone");
  }

  @Test
  void aTrainerThatExitedIsFinishingUntilTheJobCompletes() {
    // The pod is Succeeded, the Job controller has not written Complete yet: the trial must not
    // flip back to Pending on its way from Running to Succeeded.
    TrialStatus status =
        observe(job("active: 1"), List.of(finished("Succeeded", 0, "Completed", SUMMARY)), null);
    assertThat(status.getPhase()).isEqualTo("Running");
    assertThat(status.getReason()).isEqualTo("Finishing");
    // A failed attempt is different: the Job controller starts another one.
    TrialStatus retry =
        observe(job("failed: 1"), List.of(finished("Failed", 1, "Error", "boom")), null);
    assertThat(retry.getPhase()).isEqualTo("Pending");
  }

  @Test
  void truncatedSummaryOnASucceededJobIsAFailedTrial() {
    String truncated = SUMMARY.substring(0, SUMMARY.length() - 20);
    TrialStatus status =
        observe(complete(), List.of(finished("Succeeded", 0, "Completed", truncated)), null);
    assertThat(status.getPhase()).isEqualTo("Failed");
    assertThat(status.getReason()).isEqualTo("MissingSummary");
  }

  @Test
  void oomKilledTrialIsOutOfMemory() {
    TrialStatus status =
        observe(
            failed("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            List.of(finished("Failed", 137, "OOMKilled", "")),
            null);
    assertThat(status.getPhase()).isEqualTo("Failed");
    assertThat(status.getReason()).isEqualTo("OutOfMemory");
    assertThat(status.getMessage())
        .contains("exceeding its memory limit")
        .contains("BackoffLimitExceeded");
  }

  @Test
  void garbageTerminationMessageFallsBackToTheExitCode() {
    TrialStatus status =
        observe(
            failed("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            List.of(
                finished(
                    "Failed",
                    4,
                    "Error",
                    "java.lang.OutOfMemoryError: Direct buffer memory\n\tat ...")),
            null);
    assertThat(status.getReason()).isEqualTo("OutOfMemory");
    assertThat(status.getMessage()).contains("Direct buffer memory");
  }

  @Test
  void trainerReasonWinsWhenItWroteOne() {
    String summary =
        ContractJson.toJson(TrialSummary.failure(3, "DataError", "train.jsonl line 17: not JSON"));
    TrialStatus status =
        observe(
            failed(
                "PodFailurePolicy",
                "Container trainer for pod x failed with exit code 3 matching FailJob rule"),
            List.of(finished("Failed", 3, "Error", summary)),
            null);
    assertThat(status.getReason()).isEqualTo("DataError");
    assertThat(status.getMessage()).contains("line 17");
  }

  @Test
  void deadlineExceededWithoutAPodSaysSo() {
    TrialStatus status =
        observe(
            failed("DeadlineExceeded", "Job was active longer than specified deadline"),
            List.of(),
            null);
    assertThat(status.getReason()).isEqualTo("DeadlineExceeded");
  }

  @Test
  void retryingTrialMentionsTheLastFailure() {
    Job job = job("active: 1\nfailed: 1");
    TrialStatus status =
        observe(
            job,
            List.of(
                finished(
                    "Failed",
                    1,
                    "Error",
                    ContractJson.toJson(TrialSummary.failure(1, "TrainerError", "NaN loss"))),
                pod("phase: Running", "b", "2026-11-22T06:05:00Z")),
            null);
    assertThat(status.getPhase()).isEqualTo("Running");
    assertThat(status.getReason()).isEqualTo("Retrying");
    assertThat(status.getMessage()).contains("retry 1").contains("NaN loss");
    assertThat(status.getAttempts()).isEqualTo(2);
  }

  @Test
  void recordedResultIsReadBackWithoutPods() {
    TrialStatus done =
        observe(complete(), List.of(finished("Succeeded", 0, "Completed", SUMMARY)), null);
    Job recorded = complete();
    recorded
        .getMetadata()
        .getAnnotations()
        .put("loraops.io/result", TrialObserver.resultAnnotation(done));

    TrialStatus status = observe(recorded, List.of(), null);
    assertThat(status).isEqualTo(done);
  }

  @Test
  void finishedTrialSurvivesItsJobBeingDeleted() {
    TrialStatus done =
        observe(complete(), List.of(finished("Succeeded", 0, "Completed", SUMMARY)), null);
    assertThat(observe(null, List.of(), done)).isEqualTo(done);
  }

  @Test
  void suspendedAndQueuedJobs() {
    Job suspended = job("");
    suspended.getSpec().setSuspend(true);
    assertThat(observe(suspended, List.of(), null).getPhase()).isEqualTo("Suspended");
    suspended.getMetadata().getLabels().put("kueue.x-k8s.io/queue-name", "gpu");
    assertThat(observe(suspended, List.of(), null).getPhase()).isEqualTo("Queued");
    // Under Kueue, spec.suspend deactivates the Workload and marks the Job: it is not queued.
    suspended.getMetadata().getAnnotations().put("loraops.io/workload-deactivated", "true");
    TrialStatus status = observe(suspended, List.of(), null);
    assertThat(status.getPhase()).isEqualTo("Suspended");
    assertThat(status.getMessage()).contains("Workload is deactivated");
  }

  private static TrialStatus observe(Job job, List<Pod> pods, TrialStatus previous) {
    // Long after every Job of these tests completed.
    return observe(job, pods, previous, Instant.parse("2026-11-23T00:00:00Z"));
  }

  private static TrialStatus observe(Job job, List<Pod> pods, TrialStatus previous, Instant now) {
    return TrialObserver.observe(
        TRIAL, "lj-1b2c3-t001", "pvc://adapters/x/t001", job, pods, previous, now);
  }

  static Job job(String status) {
    return Fixtures.yaml(
        """
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: lj-1b2c3-t001
          labels: {loraops.io/trial: t001}
          annotations: {}
        spec:
          suspend: false
          template: {spec: {containers: [{name: trainer, image: x}]}}
        status:
        """
            + status.indent(2),
        Job.class);
  }

  static Job complete() {
    return job(
        """
        succeeded: 1
        completionTime: '2026-11-22T06:10:00Z'
        conditions:
        - {type: SuccessCriteriaMet, status: "True"}
        - {type: Complete, status: "True"}
        """);
  }

  static Job failed(String reason, String message) {
    return job(
        """
        failed: 3
        conditions:
        - {type: Failed, status: "True", reason: %s, message: "%s", lastTransitionTime: '2026-11-22T06:10:00Z'}
        """
            .formatted(reason, message));
  }

  static Pod pod(String status) {
    return pod(status, "a", "2026-11-22T06:00:00Z");
  }

  static Pod pod(String status, String suffix, String created) {
    return Fixtures.yaml(
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: lj-1b2c3-t001-%s
          creationTimestamp: '%s'
          labels: {loraops.io/trial: t001, batch.kubernetes.io/job-name: lj-1b2c3-t001}
        spec: {containers: [{name: trainer, image: x}]}
        status:
        """
                .formatted(suffix, created)
            + status.indent(2),
        Pod.class);
  }

  static Pod finished(String phase, int exitCode, String reason, String message) {
    Pod pod = pod("phase: " + phase);
    pod.getStatus()
        .setContainerStatuses(
            List.of(
                new io.fabric8.kubernetes.api.model.ContainerStatusBuilder()
                    .withName("trainer")
                    .withNewState()
                    .withNewTerminated()
                    .withExitCode(exitCode)
                    .withReason(reason)
                    .withMessage(message)
                    .endTerminated()
                    .endState()
                    .build()));
    return pod;
  }
}
