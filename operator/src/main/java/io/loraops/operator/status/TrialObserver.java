package io.loraops.operator.status;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.ContainerStateWaiting;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobCondition;
import io.fabric8.kubernetes.api.model.batch.v1.JobStatus;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.TrialSummary;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.support.Labels;
import io.loraops.operator.sweep.Trial;
import io.loraops.operator.trainer.TrialJobBuilder;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Derives one trial's status from its Job and Pods. Pure: inputs are what the informers hold.
 *
 * <p>Once a trial is finished its status is recorded on its Job ({@link Labels#RESULT_ANNOTATION})
 * and read back from there, so a result survives the loss of the LoraJob's status, of the pods
 * (garbage collection, node loss) and of the operator itself.
 */
public final class TrialObserver {

  private static final int MAX_MESSAGE = 512;

  /**
   * How long a complete trial Job whose pod is not in the operator's cache waits for it before its
   * result counts as missing (the pod still looks running in the cache, or is not in it). The pod
   * cache can be behind the Job cache by seconds (after an API server restart one informer may
   * relist long after the other; ChaosIT found two trials recorded as MissingSummary that way); a
   * pod that is really gone this soon after its Job completed was deleted by hand.
   */
  public static final Duration POD_CACHE_GRACE = Duration.ofSeconds(60);

  private TrialObserver() {}

  /**
   * @param job the trial's Job, or null if it does not exist
   * @param pods the trial's pods (any order)
   * @param previous the trial's entry in the last written status, or null
   * @param now the time, for {@link #POD_CACHE_GRACE}
   */
  public static TrialStatus observe(
      Trial trial,
      String jobName,
      String artifactUri,
      Job job,
      List<Pod> pods,
      TrialStatus previous,
      Instant now) {
    TrialStatus status = base(trial, jobName);
    if (job == null) {
      if (previous != null && TrialPhase.isTerminal(previous.getPhase())) {
        // The Job is gone (deleted by hand) but its result was recorded: keep it.
        return merge(status, previous);
      }
      return phase(
          status,
          TrialPhase.WAITING,
          Reasons.WAITING_FOR_SLOT,
          "waiting for a free parallelism slot");
    }
    Optional<TrialStatus> recorded = recordedResult(job);
    if (recorded.isPresent()) {
      return merge(status, recorded.get());
    }

    var jobStatus = job.getStatus();
    status.setAttempts(
        jobStatus == null
            ? 0
            : nz(jobStatus.getFailed()) + nz(jobStatus.getSucceeded()) + nz(jobStatus.getActive()));
    status.setStartTime(jobStatus == null ? null : jobStatus.getStartTime());
    Optional<Pod> latestPod = pods.stream().max(Comparator.comparing(TrialObserver::createdAt));
    Optional<ContainerStateTerminated> lastExit =
        pods.stream()
            .filter(TrialObserver::isFinished)
            .max(Comparator.comparing(TrialObserver::createdAt))
            .flatMap(TrialObserver::terminated);
    Optional<TrialSummary> summary =
        lastExit.flatMap(t -> ContractJson.parseSummary(t.getMessage()));

    if (jobCondition(job, "Complete").isPresent()) {
      if (latestPod.filter(TrialObserver::isFinished).isEmpty()) {
        // The Job controller saw the pod finish before our pod cache did (the pod still looks
        // running, or after an API server restart is not relisted yet). Judging now would record
        // "no summary" for good; the pod's own event brings the result, within the grace.
        if (now.isBefore(completedAt(jobStatus).plus(POD_CACHE_GRACE))) {
          return phase(
              status,
              TrialPhase.RUNNING,
              Reasons.FINISHING,
              "the trial Job is complete; waiting for its pod's result");
        }
        status.setCompletionTime(jobStatus.getCompletionTime());
        return phase(
            status,
            TrialPhase.FAILED,
            Reasons.MISSING_SUMMARY,
            pods.isEmpty()
                ? "the trial Job is complete but its pod is gone, and with it the trainer's summary"
                : "the trial Job is complete but its pod never showed as finished, so the"
                    + " trainer's summary cannot be read");
      }
      status.setCompletionTime(jobStatus.getCompletionTime());
      if (summary.isEmpty() || !summary.get().succeeded()) {
        return phase(
            status,
            TrialPhase.FAILED,
            Reasons.MISSING_SUMMARY,
            "the trainer exited 0 but left no summary in its termination message");
      }
      status.setMetrics(metrics(summary.get().metrics()));
      status.setDigest(summary.get().digest());
      status.setArtifactUri(artifactUri);
      return phase(status, TrialPhase.SUCCEEDED, Reasons.COMPLETED, "trial finished");
    }

    Optional<JobCondition> failed = jobCondition(job, "Failed");
    if (failed.isPresent()) {
      status.setCompletionTime(failed.get().getLastTransitionTime());
      return phase(
          status,
          TrialPhase.FAILED,
          failureReason(summary, lastExit, failed.get().getReason()),
          failureMessage(summary, lastExit, failed.get()));
    }

    if (Boolean.TRUE.equals(job.getSpec().getSuspend())) {
      if (Labels.isWorkloadDeactivated(job)) {
        return phase(
            status,
            TrialPhase.SUSPENDED,
            Reasons.SUSPENDED,
            "the trial's Kueue Workload is deactivated (spec.suspend)");
      }
      return Labels.isQueued(job)
          ? phase(
              status,
              TrialPhase.QUEUED,
              Reasons.WAITING_FOR_ADMISSION,
              "waiting for Kueue to admit the trial Job")
          : phase(status, TrialPhase.SUSPENDED, Reasons.SUSPENDED, "the trial Job is suspended");
    }

    Pod pod = latestPod.filter(p -> !isFinished(p)).orElse(null);
    String retryNote =
        nz(jobStatus == null ? null : jobStatus.getFailed()) > 0
            ? " (retry "
                + jobStatus.getFailed()
                + lastExit.map(t -> "; last attempt: " + exitDescription(summary, t)).orElse("")
                + ")"
            : "";
    if (pod == null && latestPod.filter(TrialObserver::succeeded).isPresent()) {
      // The trainer exited 0 and the Job controller has not marked the Job Complete yet: the
      // trial is finishing, not starting again (it would flip Running -> Pending -> Succeeded).
      return phase(
          status,
          TrialPhase.RUNNING,
          Reasons.FINISHING,
          "the trainer exited; waiting for the Job to complete");
    }
    if (pod == null) {
      return phase(
          status, TrialPhase.PENDING, Reasons.STARTING, "waiting for the trial's pod" + retryNote);
    }
    if ("Running".equals(pod.getStatus().getPhase())) {
      return phase(
          status,
          TrialPhase.RUNNING,
          retryNote.isEmpty() ? Reasons.TRAINING : Reasons.RETRYING,
          "trainer running" + retryNote);
    }
    Optional<PodCondition> unschedulable =
        podCondition(pod, "PodScheduled").filter(c -> "False".equals(c.getStatus()));
    if (unschedulable.isPresent()) {
      return phase(
          status,
          TrialPhase.PENDING,
          Reasons.UNSCHEDULABLE,
          "cannot be scheduled: " + nullToEmpty(unschedulable.get().getMessage()));
    }
    Optional<ContainerStateWaiting> waiting =
        trainer(pod)
            .map(ContainerStatus::getState)
            .map(s -> s.getWaiting())
            .filter(w -> w.getReason() != null);
    if (waiting.isPresent()) {
      return phase(
          status,
          TrialPhase.PENDING,
          waiting.get().getReason(),
          truncate(waiting.get().getMessage()));
    }
    return phase(
        status, TrialPhase.PENDING, Reasons.STARTING, "the trial's pod is starting" + retryNote);
  }

  /** The recorded result on a finished trial Job, if any. */
  public static Optional<TrialStatus> recordedResult(Job job) {
    String json =
        job.getMetadata().getAnnotations() == null
            ? null
            : job.getMetadata().getAnnotations().get(Labels.RESULT_ANNOTATION);
    if (json == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(ContractJson.mapper().readValue(json, TrialStatus.class));
    } catch (JsonProcessingException e) {
      return Optional.empty();
    }
  }

  /** The annotation value recording a finished trial. */
  public static String resultAnnotation(TrialStatus status) {
    return ContractJson.toJson(status);
  }

  private static String failureReason(
      Optional<TrialSummary> summary, Optional<ContainerStateTerminated> exit, String jobReason) {
    if (summary.isPresent() && summary.get().reason() != null) {
      return summary.get().reason();
    }
    if (exit.isPresent()) {
      if ("OOMKilled".equals(exit.get().getReason())) {
        return Reasons.OUT_OF_MEMORY;
      }
      if (exit.get().getExitCode() != null && exit.get().getExitCode() != 0) {
        return ExitCodes.reason(exit.get().getExitCode());
      }
    }
    return jobReason == null ? Reasons.JOB_FAILED : jobReason;
  }

  private static String failureMessage(
      Optional<TrialSummary> summary,
      Optional<ContainerStateTerminated> exit,
      JobCondition failed) {
    String detail = exit.map(t -> exitDescription(summary, t)).orElse("no pod ran to completion");
    return truncate(
        detail
            + " (Job "
            + nullToEmpty(failed.getReason())
            + ": "
            + nullToEmpty(failed.getMessage())
            + ")");
  }

  private static String exitDescription(
      Optional<TrialSummary> summary, ContainerStateTerminated t) {
    if (summary.isPresent() && summary.get().message() != null) {
      return "exit " + t.getExitCode() + ": " + summary.get().message();
    }
    if ("OOMKilled".equals(t.getReason())) {
      return "exit " + t.getExitCode() + ": killed for exceeding its memory limit";
    }
    String message = t.getMessage() == null ? "" : ": " + t.getMessage().strip();
    return "exit " + t.getExitCode() + message;
  }

  private static TrialStatus base(Trial trial, String jobName) {
    TrialStatus status = new TrialStatus();
    status.setName(trial.name());
    status.setIndex(trial.index());
    status.setParameters(trial.parameters());
    status.setJobName(jobName);
    return status;
  }

  /** A recorded or previous result, under the current trial's identity. */
  private static TrialStatus merge(TrialStatus identity, TrialStatus result) {
    result.setName(identity.getName());
    result.setIndex(identity.getIndex());
    result.setParameters(identity.getParameters());
    result.setJobName(identity.getJobName());
    return result;
  }

  private static TrialStatus phase(
      TrialStatus status, String phase, String reason, String message) {
    status.setPhase(phase);
    status.setReason(reason);
    status.setMessage(message);
    return status;
  }

  static TrialMetrics metrics(TrialSummary.Metrics m) {
    TrialMetrics metrics = new TrialMetrics();
    if (m == null) {
      return metrics;
    }
    metrics.setTrainLoss(m.trainLoss());
    metrics.setEvalLoss(m.evalLoss());
    metrics.setPerplexity(m.perplexity());
    metrics.setSteps(m.steps());
    metrics.setTokensPerSecond(m.tokensPerSecond());
    metrics.setTrainableParameters(m.trainableParameters());
    metrics.setAdapterBytes(m.adapterBytes());
    metrics.setDurationSeconds(m.durationSeconds());
    return metrics;
  }

  static Optional<JobCondition> jobCondition(Job job, String type) {
    if (job.getStatus() == null || job.getStatus().getConditions() == null) {
      return Optional.empty();
    }
    return job.getStatus().getConditions().stream()
        .filter(c -> type.equals(c.getType()) && "True".equals(c.getStatus()))
        .findFirst();
  }

  private static Optional<PodCondition> podCondition(Pod pod, String type) {
    if (pod.getStatus() == null || pod.getStatus().getConditions() == null) {
      return Optional.empty();
    }
    return pod.getStatus().getConditions().stream()
        .filter(c -> type.equals(c.getType()))
        .findFirst();
  }

  private static Optional<ContainerStatus> trainer(Pod pod) {
    if (pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
      return Optional.empty();
    }
    return pod.getStatus().getContainerStatuses().stream()
        .filter(c -> TrialJobBuilder.CONTAINER.equals(c.getName()))
        .findFirst();
  }

  static Optional<ContainerStateTerminated> terminated(Pod pod) {
    return trainer(pod)
        .flatMap(
            c ->
                Optional.ofNullable(c.getState() == null ? null : c.getState().getTerminated())
                    .or(
                        () ->
                            Optional.ofNullable(
                                c.getLastState() == null
                                    ? null
                                    : c.getLastState().getTerminated())));
  }

  private static boolean succeeded(Pod pod) {
    return pod.getStatus() != null && "Succeeded".equals(pod.getStatus().getPhase());
  }

  static boolean isFinished(Pod pod) {
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    return "Succeeded".equals(phase) || "Failed".equals(phase);
  }

  static String createdAt(Pod pod) {
    String ts = pod.getMetadata().getCreationTimestamp();
    return (ts == null ? "" : ts) + pod.getMetadata().getName();
  }

  /** When the Job completed; long ago if it does not say (nothing to wait for then). */
  private static Instant completedAt(JobStatus jobStatus) {
    try {
      return jobStatus.getCompletionTime() == null
          ? Instant.EPOCH
          : Instant.parse(jobStatus.getCompletionTime());
    } catch (DateTimeParseException e) {
      return Instant.EPOCH;
    }
  }

  private static int nz(Integer i) {
    return i == null ? 0 : i;
  }

  private static String nullToEmpty(String s) {
    return s == null ? "" : s;
  }

  private static String truncate(String s) {
    if (s == null) {
      return null;
    }
    return s.length() <= MAX_MESSAGE ? s : s.substring(0, MAX_MESSAGE - 3) + "...";
  }
}
