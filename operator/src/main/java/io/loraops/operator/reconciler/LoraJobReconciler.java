package io.loraops.operator.reconciler;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.SecondaryToPrimaryMapper;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobStatus;
import io.loraops.operator.api.v1alpha1.Objective;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.config.OperatorSettings;
import io.loraops.operator.config.ProgressSettings;
import io.loraops.operator.metrics.LoraMetrics;
import io.loraops.operator.progress.KubernetesPodLogs;
import io.loraops.operator.progress.ProgressPoller;
import io.loraops.operator.progress.TrialProgressTracker;
import io.loraops.operator.publish.Publisher;
import io.loraops.operator.status.BestTrialSelector;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.status.LoraJobStatusCalculator;
import io.loraops.operator.status.PublishOutcome;
import io.loraops.operator.status.Reasons;
import io.loraops.operator.status.ReconcileErrors;
import io.loraops.operator.status.TrialObserver;
import io.loraops.operator.status.TrialPhase;
import io.loraops.operator.status.TrialScheduler;
import io.loraops.operator.support.Creates;
import io.loraops.operator.support.EventRecorder;
import io.loraops.operator.support.Labels;
import io.loraops.operator.support.LeanCache;
import io.loraops.operator.support.Names;
import io.loraops.operator.sweep.SweepExpander;
import io.loraops.operator.sweep.Trial;
import io.loraops.operator.trainer.PublishJobBuilder;
import io.loraops.operator.trainer.TrialConfigs;
import io.loraops.operator.trainer.TrialJobBuilder;
import io.quarkiverse.operatorsdk.annotations.RBACRule;
import jakarta.inject.Inject;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * Runs a LoraJob's sweep: one batch/v1 Job per trial, at most {@code parallelism} at a time, then
 * publishes the best trial as a new LoraAdapter version.
 *
 * <p>Every step is safe to repeat: child names are deterministic (a repeated create is an
 * AlreadyExists), a finished trial's result is recorded on its Job before anything depends on it,
 * and a version is found by the LoraJob's uid before a new one is made.
 */
@ControllerConfiguration(name = LoraJobReconciler.NAME)
// A failing reconcile is retried for as long as it fails (the default gives up after 5 tries and
// leaves the job stuck until some other event), and shown in status (ReconcileErrors).
@GradualRetry(maxAttempts = -1, maxInterval = ReconcileErrors.MAX_RETRY_INTERVAL_SECONDS * 1000)
@RBACRule(
    apiGroups = "batch",
    resources = "jobs",
    verbs = {"get", "list", "watch", "create", "patch"})
@RBACRule(
    apiGroups = "",
    resources = "pods",
    verbs = {"get", "list", "watch"})
// Running trials' progress lines (docs/progress.md): read only, through the API server.
@RBACRule(
    apiGroups = "",
    resources = "pods/log",
    verbs = {"get"})
// patch: a version record's claim becomes a published version (README, Publishing).
@RBACRule(
    apiGroups = "",
    resources = "configmaps",
    verbs = {"get", "list", "watch", "create", "patch"})
@RBACRule(
    apiGroups = "",
    resources = "events",
    verbs = {"create"})
// spec.suspend under Kueue deactivates the trial Jobs' Workloads.
@RBACRule(
    apiGroups = "kueue.x-k8s.io",
    resources = "workloads",
    verbs = {"list", "patch"})
@RBACRule(
    apiGroups = LoraJob.GROUP,
    resources = "loraadapters",
    verbs = {"get", "create"})
// Owner references with blockOwnerDeletion need update on the owner's finalizers subresource.
@RBACRule(
    apiGroups = LoraJob.GROUP,
    resources = "lorajobs/finalizers",
    verbs = {"update"})
public class LoraJobReconciler implements Reconciler<LoraJob> {

  public static final String NAME = "lorajob";

  /** Kueue's Workload API; served since Kueue 0.15 (tested with 0.17.0). */
  static final String KUEUE_WORKLOAD_API = "kueue.x-k8s.io/v1beta2";

  private static final Logger LOG = Logger.getLogger(LoraJobReconciler.class);

  private final TrialJobBuilder builder;
  private final PublishJobBuilder publishBuilder;
  private final LoraMetrics metrics;
  private final Clock clock;
  private final ProgressSettings progressSettings;
  private final EarlyStopper earlyStopper;
  private final EventRecorder events;
  private InformerEventSource<Job, LoraJob> jobs;
  private InformerEventSource<Pod, LoraJob> pods;
  private InformerEventSource<Job, LoraJob> publishJobs;
  private InformerEventSource<Pod, LoraJob> publishPods;
  private TrialProgressTracker progress;

  @Inject
  public LoraJobReconciler(
      OperatorSettings settings,
      LoraMetrics metrics,
      Clock clock,
      ProgressSettings progressSettings,
      EventRecorder events) {
    this.builder = new TrialJobBuilder(settings);
    this.publishBuilder = new PublishJobBuilder(settings);
    this.metrics = metrics;
    this.clock = clock;
    this.progressSettings = progressSettings;
    this.events = events;
    this.earlyStopper = new EarlyStopper(metrics, events);
  }

  @Override
  public List<EventSource<?, LoraJob>> prepareEventSources(EventSourceContext<LoraJob> context) {
    jobs =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Job.class, LoraJob.class)
                .withName("trial-jobs")
                .withLabelSelector(Labels.TRIAL_SELECTOR)
                .withItemStore(LeanCache.trialJobs())
                .withSecondaryToPrimaryMapper(byLoraJobLabel())
                .build(),
            context);
    pods =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Pod.class, LoraJob.class)
                .withName("trial-pods")
                .withLabelSelector(Labels.TRIAL_SELECTOR)
                .withItemStore(LeanCache.<Pod>trialPods())
                .withSecondaryToPrimaryMapper(byLoraJobLabel())
                .build(),
            context);
    ProgressPoller<LoraJob> poller =
        new ProgressPoller<>(
            new KubernetesPodLogs(context.getClient()),
            TrialJobBuilder.CONTAINER,
            progressSettings.pollInterval(),
            progressSettings.readers());
    progress = new TrialProgressTracker(poller);
    publishJobs =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Job.class, LoraJob.class)
                .withName("publish-jobs")
                .withLabelSelector(Labels.PUBLISH_SELECTOR)
                .withItemStore(LeanCache.trialJobs())
                .withSecondaryToPrimaryMapper(byLoraJobLabel())
                .build(),
            context);
    publishPods =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Pod.class, LoraJob.class)
                .withName("publish-pods")
                .withLabelSelector(Labels.PUBLISH_SELECTOR)
                .withItemStore(LeanCache.<Pod>trialPods())
                .withSecondaryToPrimaryMapper(byLoraJobLabel())
                .build(),
            context);
    return List.of(jobs, pods, poller.events(), publishJobs, publishPods);
  }

  @Override
  public UpdateControl<LoraJob> reconcile(LoraJob loraJob, Context<LoraJob> context) {
    KubernetesClient client = context.getClient();
    Instant now = clock.instant();
    if (hasPublished(loraJob)) {
      // Terminal: no trial is planned, started or recorded and nothing is published again.
      return report(client, loraJob, recordedTrials(loraJob), publishedOutcome(loraJob), now);
    }

    List<Trial> trials = SweepExpander.expand(loraJob.getSpec());
    Map<String, Job> trialJobs = ownedJobsByTrial(loraJob, jobs.getSecondaryResources(loraJob));
    Map<String, List<Pod>> trialPods = podsByTrial(pods.getSecondaryResources(loraJob), trialJobs);
    List<TrialStatus> observed = observe(loraJob, trials, trialJobs, trialPods, now);
    progress.track(loraJob, observed, trialPods);

    earlyStopper.stopTrials(
        client,
        jobs,
        loraJob,
        observed,
        trialJobs,
        job -> setWorkloadActive(client, loraJob, job, false),
        now);
    recordFinishedTrials(client, loraJob, observed, trialJobs, now);
    startAndSuspendTrials(client, loraJob, trials, observed, trialJobs, now);
    PublishOutcome publish = publishIfDone(client, loraJob, observed, now);
    return report(client, loraJob, observed, publish, now);
  }

  /**
   * Shows a reconcile that keeps failing (a version record the API server refuses, a missing
   * permission) as {@code Synced} False {@code ReconcileError} with the error, and a Warning Event
   * when it starts; the framework retries it either way ({@code @GradualRetry}).
   */
  @Override
  public ErrorStatusUpdateControl<LoraJob> updateErrorStatus(
      LoraJob loraJob, Context<LoraJob> context, Exception error) {
    return ErrorStatus.show(
        loraJob,
        context,
        events,
        error,
        clock.instant(),
        LoraJobStatus::new,
        LoraJobStatus::getConditions,
        LoraJobStatus::setConditions,
        LoraJob::new);
  }

  private UpdateControl<LoraJob> report(
      KubernetesClient client,
      LoraJob loraJob,
      List<TrialStatus> observed,
      PublishOutcome publish,
      Instant now) {
    LoraJobStatus status = LoraJobStatusCalculator.compute(loraJob, observed, publish, now);
    metrics.activeTrials(
        loraJob.getMetadata().getNamespace(), loraJob.getSpec().getAdapter(),
        loraJob.getMetadata().getName(), status.getTrialsActive());
    UpdateControl<LoraJob> control = patchStatusIfChanged(client, loraJob, status, now);
    // A trial whose Job completed before its pod's result reached the cache is judged at the
    // latest when the grace runs out; the pod's own event usually brings it sooner. (A trainer
    // that exited before its Job completed needs no timer, the Job's event comes, and the
    // reschedule is then one reconcile with nothing to do.)
    return observed.stream().anyMatch(t -> Reasons.FINISHING.equals(t.getReason()))
        ? control.rescheduleAfter(TrialObserver.POD_CACHE_GRACE)
        : control;
  }

  /**
   * Once a version is published the LoraJob is done: its recorded trials are the truth, whatever
   * happens to their Jobs later (a TTL, a deletion by hand). A lost status is not terminal: the
   * normal path rebuilds it from the Jobs' recorded results and the version record.
   */
  private static boolean hasPublished(LoraJob loraJob) {
    return loraJob.getStatus() != null && loraJob.getStatus().getPublishedVersion() != null;
  }

  private static List<TrialStatus> recordedTrials(LoraJob loraJob) {
    return new ArrayList<>(loraJob.getStatus().getTrials());
  }

  private static PublishOutcome publishedOutcome(LoraJob loraJob) {
    return PublishOutcome.published(
        loraJob.getStatus().getPublishedVersion(), loraJob.getStatus().getRankAnalysis());
  }

  private List<TrialStatus> observe(
      LoraJob loraJob,
      List<Trial> trials,
      Map<String, Job> trialJobs,
      Map<String, List<Pod>> trialPods,
      Instant now) {
    Map<String, TrialStatus> previous =
        loraJob.getStatus() == null
            ? Map.of()
            : loraJob.getStatus().getTrials().stream()
                .collect(Collectors.toMap(TrialStatus::getName, t -> t, (a, b) -> a));
    List<TrialStatus> observed = new ArrayList<>(trials.size());
    for (Trial trial : trials) {
      observed.add(
          TrialObserver.observe(
              trial,
              Names.trialJob(loraJob, trial.name()),
              TrialConfigs.artifactUri(loraJob, trial),
              trialJobs.get(trial.name()),
              trialPods.getOrDefault(trial.name(), List.of()),
              previous.get(trial.name()),
              now));
    }
    return observed;
  }

  /**
   * Writes each newly finished trial's result onto its Job, once. The annotation is the durable
   * record (pods may be garbage-collected, status may be lost), and writing it is what counts the
   * trial in the metrics and emits its Event, so neither happens twice.
   */
  private void recordFinishedTrials(
      KubernetesClient client,
      LoraJob loraJob,
      List<TrialStatus> observed,
      Map<String, Job> trialJobs,
      Instant now) {
    for (TrialStatus trial : observed) {
      Job job = trialJobs.get(trial.getName());
      if (job == null
          || !TrialPhase.isTerminal(trial.getPhase())
          || TrialObserver.recordedResult(job).isPresent()) {
        continue;
      }
      TrialJobs.recordResult(client, jobs, loraJob, job, trial, false);

      boolean succeeded = TrialPhase.SUCCEEDED.equals(trial.getPhase());
      metrics.trialFinished(
          loraJob.getMetadata().getNamespace(),
          loraJob.getSpec().getAdapter(),
          succeeded ? "succeeded" : "failed",
          trial.getMetrics() == null ? null : trial.getMetrics().getDurationSeconds());
      events.record(
          client,
          loraJob,
          succeeded ? EventRecorder.NORMAL : EventRecorder.WARNING,
          succeeded ? Reasons.TRIAL_SUCCEEDED : Reasons.TRIAL_FAILED,
          "trial "
              + trial.getName()
              + " (rank "
              + trial.getParameters().getRank()
              + ", alpha "
              + trial.getParameters().getAlpha()
              + ", lr "
              + trial.getParameters().getLearningRate()
              + "): "
              + (succeeded && trial.getMetrics() != null
                  ? "evalLoss " + trial.getMetrics().getEvalLoss()
                  : trial.getReason() + ": " + trial.getMessage()),
          now);
      LOG.infof(
          "%s/%s trial %s %s (%s)",
          loraJob.getMetadata().getNamespace(),
          loraJob.getMetadata().getName(),
          trial.getName(),
          trial.getPhase(),
          trial.getReason());
    }
  }

  private void startAndSuspendTrials(
      KubernetesClient client,
      LoraJob loraJob,
      List<Trial> trials,
      List<TrialStatus> observed,
      Map<String, Job> trialJobs,
      Instant now) {
    TrialScheduler.Plan plan =
        TrialScheduler.plan(
            loraJob.getSpec(), trials, observed, trialJobs, Labels.isQueued(loraJob));
    for (Trial trial : plan.toCreate()) {
      observed.set(
          trial.index(), createTrial(client, loraJob, trial, observed.get(trial.index()), now));
    }
    String namespace = loraJob.getMetadata().getNamespace();
    for (String name : plan.toSuspend()) {
      setSuspended(client, namespace, name, true);
    }
    for (String name : plan.toResume()) {
      setSuspended(client, namespace, name, false);
    }
    for (Job job : plan.toDeactivate()) {
      setWorkloadActive(client, loraJob, job, false);
    }
    for (Job job : plan.toActivate()) {
      setWorkloadActive(client, loraJob, job, true);
    }
  }

  /**
   * Sets {@code spec.active} on the Kueue Workload of a queued trial Job, then records it on the
   * Job ({@link Labels#WORKLOAD_DEACTIVATED_ANNOTATION}), which is what the next reconcile compares
   * with spec.suspend, so each trial costs one Workload and one Job write per suspend or resume.
   * Kueue creates a Job's Workload shortly after the Job: while there is none, nothing is recorded,
   * and Kueue's next write to the Job (admitting it) brings the reconcile that tries again.
   */
  private void setWorkloadActive(
      KubernetesClient client, LoraJob loraJob, Job job, boolean active) {
    String namespace = job.getMetadata().getNamespace();
    var workloads =
        client.genericKubernetesResources(KUEUE_WORKLOAD_API, "Workload").inNamespace(namespace);
    List<GenericKubernetesResource> found =
        workloads.withLabel(Labels.KUEUE_JOB_UID, job.getMetadata().getUid()).list().getItems();
    if (found.isEmpty()) {
      return;
    }
    for (GenericKubernetesResource workload : found) {
      workloads
          .withName(workload.getMetadata().getName())
          .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"active\":" + active + "}}");
    }
    ObjectNode patch = JsonNodeFactory.instance.objectNode();
    ObjectNode annotations = patch.putObject("metadata").putObject("annotations");
    if (active) {
      annotations.putNull(Labels.WORKLOAD_DEACTIVATED_ANNOTATION); // merge patch: removes it
    } else {
      annotations.put(Labels.WORKLOAD_DEACTIVATED_ANNOTATION, "true");
    }
    TrialJobs.mergePatch(client, jobs, loraJob, job, patch);
  }

  /**
   * Creates the trial's ConfigMap and Job; returns the trial's status as the next reconcile will
   * observe it once the new Job reaches the cache (pending, starting; queued under Kueue), so that
   * its arrival changes nothing and costs no second status write.
   */
  private TrialStatus createTrial(
      KubernetesClient client, LoraJob loraJob, Trial trial, TrialStatus status, Instant now) {
    TrialJobBuilder.TrialObjects objects = builder.build(loraJob, trial);
    Job created;
    try {
      Creates.ifAbsent(client, objects.configMap());
      created = Creates.ifAbsent(client, objects.job());
      if (created != null) {
        jobs.handleRecentResourceCreate(ResourceID.fromResource(loraJob), created);
      }
    } catch (KubernetesClientException e) {
      if (e.getCode() != 422) {
        throw e;
      }
      // The API server refused the Job itself (e.g. a bad toleration): retrying cannot help.
      status.setPhase(TrialPhase.FAILED);
      status.setReason(Reasons.INVALID_TRIAL_JOB);
      status.setMessage("the trial Job was refused: " + e.getStatus().getMessage());
      return status;
    }
    return TrialObserver.observe(
        trial,
        objects.job().getMetadata().getName(),
        TrialConfigs.artifactUri(loraJob, trial),
        created != null ? created : objects.job(), // it existed already: the cache will tell
        List.of(),
        null,
        now);
  }

  private static void setSuspended(
      KubernetesClient client, String namespace, String job, boolean suspend) {
    client
        .batch()
        .v1()
        .jobs()
        .inNamespace(namespace)
        .withName(job)
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"suspend\":" + suspend + "}}");
  }

  private PublishOutcome publishIfDone(
      KubernetesClient client, LoraJob loraJob, List<TrialStatus> observed, Instant now) {
    if (!observed.stream().allMatch(t -> TrialPhase.isTerminal(t.getPhase()))) {
      return PublishOutcome.notAttempted();
    }
    Objective objective =
        loraJob.getSpec().getSweep() == null
            ? new Objective()
            : loraJob.getSpec().getSweep().getObjective();
    Job publishJob = ownedPublishJob(loraJob);
    List<Pod> publishJobPods = podsOf(loraJob, publishJob);
    Publisher publisher =
        new Publisher(
            client,
            metrics,
            publishBuilder,
            created ->
                publishJobs.handleRecentResourceCreate(ResourceID.fromResource(loraJob), created));
    return BestTrialSelector.select(observed, objective)
        .map(best -> publisher.publish(loraJob, best, observed, publishJob, publishJobPods, now))
        .orElse(PublishOutcome.notAttempted());
  }

  /** This LoraJob object's publish Job, from the cache; null if there is none. */
  private Job ownedPublishJob(LoraJob loraJob) {
    return publishJobs.getSecondaryResources(loraJob).stream()
        .filter(job -> Names.publishJob(loraJob).equals(job.getMetadata().getName()))
        .filter(job -> isOwnedBy(job, loraJob))
        .findFirst()
        .orElse(null);
  }

  /**
   * The pods of this very publish Job (by owner uid: a publish Job deleted to retry leaves pods
   * with the same job name).
   */
  private List<Pod> podsOf(LoraJob loraJob, Job publishJob) {
    return publishJob == null
        ? List.of()
        : publishPods.getSecondaryResources(loraJob).stream()
            .filter(pod -> isOwnedBy(pod, publishJob))
            .toList();
  }

  private static boolean isOwnedBy(HasMetadata child, HasMetadata owner) {
    return child.getMetadata().getOwnerReferences().stream()
        .anyMatch(o -> o.getUid().equals(owner.getMetadata().getUid()));
  }

  private static String jobNameOf(Pod pod) {
    return pod.getMetadata().getLabels().get("batch.kubernetes.io/job-name");
  }

  private UpdateControl<LoraJob> patchStatusIfChanged(
      KubernetesClient client, LoraJob loraJob, LoraJobStatus status, Instant now) {
    LoraJobStatus previous = loraJob.getStatus();
    if (Objects.equals(previous, status)) {
      return UpdateControl.noUpdate();
    }
    for (Condition changed :
        Conditions.changed(
            previous == null ? null : previous.getConditions(), status.getConditions())) {
      LoraJobStatusCalculator.eventType(changed)
          .ifPresent(
              type ->
                  events.record(
                      client, loraJob, type, changed.getReason(), changed.getMessage(), now));
    }
    return StatusPatch.of(loraJob, status, LoraJob::new);
  }

  /** Jobs of this LoraJob object (not of an earlier one of the same name), by trial name. */
  private static Map<String, Job> ownedJobsByTrial(LoraJob loraJob, Set<Job> jobs) {
    Map<String, Job> byTrial = new HashMap<>();
    for (Job job : jobs) {
      if (isOwnedBy(job, loraJob)) {
        byTrial.put(job.getMetadata().getLabels().get(Labels.TRIAL), job);
      }
    }
    return byTrial;
  }

  private static Map<String, List<Pod>> podsByTrial(Set<Pod> pods, Map<String, Job> trialJobs) {
    Map<String, List<Pod>> byTrial = new HashMap<>();
    for (Pod pod : pods) {
      String trial = pod.getMetadata().getLabels().get(Labels.TRIAL);
      Job job = trialJobs.get(trial);
      String podJob = jobNameOf(pod);
      if (job != null && job.getMetadata().getName().equals(podJob)) {
        byTrial.computeIfAbsent(trial, t -> new ArrayList<>()).add(pod);
      }
    }
    return byTrial;
  }

  private static <R extends HasMetadata> SecondaryToPrimaryMapper<R> byLoraJobLabel() {
    return resource -> {
      String name =
          resource.getMetadata().getLabels() == null
              ? null
              : resource.getMetadata().getLabels().get(Labels.LORA_JOB);
      return name == null
          ? Set.of()
          : Set.of(new ResourceID(name, resource.getMetadata().getNamespace()));
    };
  }
}
