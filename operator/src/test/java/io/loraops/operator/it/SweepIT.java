package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobStatus;
import io.loraops.operator.api.v1alpha1.RankAnalysisStatus;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.support.Labels;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A sweep end to end against a real API server and the real Job controller. */
class SweepIT {

  static final Map<String, Double> EVAL_LOSS_BY_TRIAL =
      Map.of("t000", 2.0, "t001", 1.5, "t002", 1.8, "t003", 1.9);

  KubernetesClient client = ControlPlane.client();
  String namespace;
  OperatorHarness operator;
  FakeKubelet kubelet;

  @BeforeEach
  void startOperator() {
    namespace = ControlPlane.newNamespace("sweep");
    operator = OperatorHarness.start(client, namespace);
    kubelet = new FakeKubelet(client, namespace);
  }

  @AfterEach
  void stopOperator() {
    operator.close();
  }

  /**
   * The first status a LoraJob gets already describes the trial Jobs its reconcile created, as the
   * next reconcile will observe them, so the Jobs' arrival in the operator's cache rewrites
   * nothing: at a thousand LoraJobs applied at once (bench/scale) that second status write per
   * LoraJob was about a tenth of what the operator wrote.
   */
  @Test
  void theFirstStatusDescribesTheTrialJobsCreatedWithIt() {
    List<LoraJobStatus> statuses = new CopyOnWriteArrayList<>();
    try (Watch watch =
        client
            .resources(LoraJob.class)
            .inNamespace(namespace)
            .watch(
                new Watcher<>() {
                  @Override
                  public void eventReceived(Action action, LoraJob loraJob) {
                    if (loraJob.getStatus() != null) {
                      statuses.add(loraJob.getStatus());
                    }
                  }

                  @Override
                  public void onClose(WatcherException cause) {}
                })) {
      client
          .resource(Manifests.loraJob(Manifests.sweep("first", "4, 8", 2, 1), namespace))
          .create();
      await().atMost(Duration.ofSeconds(30)).until(() -> !statuses.isEmpty());
    }
    assertThat(statuses.get(0).getTrials())
        .extracting(TrialStatus::getPhase, TrialStatus::getReason)
        .containsExactly(tuple("Pending", "Starting"), tuple("Pending", "Starting"));
  }

  @Test
  void fourTrialSweepRunsTwoAtATimeAndPublishesTheBestTrialAsVersionOne() {
    ActiveJobsWatch active = ActiveJobsWatch.start(client, namespace);
    client
        .resource(Manifests.loraJob(Manifests.sweep("ranks", "4, 8, 16, 32", 2, 1), namespace))
        .create();

    kubelet.succeedEveryTrialUntil(
        EVAL_LOSS_BY_TRIAL::get, () -> isComplete(loraJob("ranks")), Duration.ofSeconds(120));
    active.close();

    assertThat(active.max()).as("most trial Jobs active at once").isEqualTo(2);
    LoraJob job = loraJob("ranks");
    assertThat(job.getStatus().getPhase()).isEqualTo("Succeeded");
    assertThat(job.getStatus().getProgress()).isEqualTo("4/4");
    assertThat(job.getStatus().getPublishedVersion()).isEqualTo(1);
    assertThat(job.getStatus().getBestTrial().getName()).isEqualTo("t001");
    assertThat(job.getStatus().getBestTrial().getRank()).isEqualTo(8);
    assertThat(job.getStatus().getBestTrial().getEvalLoss()).isEqualTo(1.5);
    assertThat(job.getStatus().getTrials())
        .extracting(TrialStatus::getPhase)
        .containsOnly("Succeeded");
    assertThat(job.getStatus().getObservedGeneration())
        .isEqualTo(job.getMetadata().getGeneration());
    assertThat(client.batch().v1().jobs().inNamespace(namespace).list().getItems())
        .as("four trial Jobs and one publish Job")
        .extracting(j -> j.getMetadata().getLabels().get(Labels.COMPONENT))
        .containsExactlyInAnyOrder("trial", "trial", "trial", "trial", "publish");
    // The rank analysis compared the best trial (rank 8) with the best of ranks 4, 16 and 32.
    RankAnalysisStatus ranks = job.getStatus().getRankAnalysis();
    assertThat(ranks.getBestRank()).isEqualTo(8);
    assertThat(ranks.getRecommendedRank()).isEqualTo(4);
    assertThat(ranks.getSummary())
        .containsExactly(
            "rank 4 captures 0.95 of rank 8's top-4 directions on q_proj, 0.95 on v_proj",
            "rank 16 captures 0.95 of rank 8's top-4 directions on q_proj, 0.95 on v_proj",
            "rank 32 captures 0.95 of rank 8's top-4 directions on q_proj, 0.95 on v_proj");
    assertThat(ranks.getHeatmapUri()).matches("pvc://adapters/support-bot/v1/rank-analysis.svg");

    await()
        .atMost(Duration.ofSeconds(20))
        .until(
            () ->
                adapter().getStatus() != null && adapter().getStatus().getLatestVersion() != null);
    LoraAdapter adapter = adapter();
    assertThat(adapter.getStatus().getLatestVersion()).isEqualTo(1);
    assertThat(Conditions.isTrue(adapter.getStatus().getConditions(), "Ready")).isTrue();
    AdapterVersion v1 = adapter.getStatus().getVersions().get(0);
    assertThat(v1.getVersion()).isEqualTo(1);
    assertThat(v1.getRank()).isEqualTo(8);
    assertThat(v1.getAlpha()).isEqualTo(16.0);
    assertThat(v1.getMetrics().getEvalLoss()).isEqualTo(1.5);
    assertThat(v1.getSource().getTrial()).isEqualTo("t001");
    assertThat(v1.getArtifactUri()).isEqualTo("pvc://adapters/support-bot/v1");
    assertThat(v1.getDigest()).isEqualTo("sha256:" + "ab".repeat(32)); // the trial's
    assertThat(v1.getMergedUri()).isNull();
    assertThat(versionRecords())
        .singleElement()
        .satisfies(
            r -> {
              assertThat(r.getMetadata().getLabels())
                  .containsEntry(Labels.VERSION_STATE, Labels.PUBLISHED);
              assertThat(r.getImmutable()).isTrue();
            });

    awaitEvents(reasons -> assertThat(reasons).contains("TrialSucceeded", "VersionPublished"));
    assertThat(operator.registry.get("lora.trials").tag("result", "succeeded").counter().count())
        .isEqualTo(4);
    assertThat(operator.registry.get("lora.adapter.versions").counter().count()).isEqualTo(1);

    // Published is terminal: a trial Job that loses its recorded result is not observed, recorded
    // or counted again, and a later spec change only moves observedGeneration and Suspended.
    String t001 = job.getStatus().getTrials().get(1).getJobName();
    client
        .batch()
        .v1()
        .jobs()
        .inNamespace(namespace)
        .withName(t001)
        .patch(
            PatchContext.of(PatchType.JSON_MERGE),
            "{\"metadata\":{\"annotations\":{\"" + Labels.RESULT_ANNOTATION + "\":null}}}");
    suspend("ranks", true);
    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () ->
                loraJob("ranks").getStatus().getObservedGeneration()
                    == loraJob("ranks").getMetadata().getGeneration());
    job = loraJob("ranks");
    assertThat(Conditions.find(job.getStatus().getConditions(), "Suspended").get().getReason())
        .isEqualTo("Finished");
    assertThat(job.getStatus().getTrials())
        .extracting(TrialStatus::getPhase)
        .containsOnly("Succeeded");
    assertThat(job.getStatus().getPublishedVersion()).isEqualTo(1);
    assertThat(
            client
                .batch()
                .v1()
                .jobs()
                .inNamespace(namespace)
                .withName(t001)
                .get()
                .getMetadata()
                .getAnnotations())
        .as("the result is not recorded again")
        .doesNotContainKey(Labels.RESULT_ANNOTATION);
    assertThat(operator.registry.get("lora.trials").tag("result", "succeeded").counter().count())
        .isEqualTo(4);

    // Deleting the LoraJob garbage-collects its Jobs and ConfigMaps; the version stays.
    client.resource(job).delete();
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () ->
                client.batch().v1().jobs().inNamespace(namespace).list().getItems().isEmpty()
                    && client
                        .configMaps()
                        .inNamespace(namespace)
                        .withLabel(Labels.LORA_JOB)
                        .list()
                        .getItems()
                        .isEmpty());
    assertThat(versionRecords()).hasSize(1);
    assertThat(adapter().getStatus().getVersions()).hasSize(1);
  }

  /**
   * The version counts only once its copy is verified: a publish Job that reports another digest
   * than the trial's, or fails, leaves a claim that nothing rolls out (Failed with the reason and a
   * Warning Event, trial results kept); deleting the publish Job runs it again under the same
   * claim, and the verified copy is published as that same version.
   */
  @Test
  void aCopyThatDoesNotVerifyIsNotPublishedUntilThePublishJobSucceeds() {
    client.resource(Manifests.loraJob(Manifests.sweep("verify", "8", 1, 1), namespace)).create();
    await()
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(300))
        .ignoreExceptions()
        .until(
            () -> {
              kubelet.runningPods(null).forEach(pod -> kubelet.succeed(pod, 1.5));
              return kubelet.runningPublishPods().size() == 1;
            });
    Pod publishPod = kubelet.runningPublishPods().get(0);
    assertThat(loraJob("verify").getStatus().getPublishedVersion()).isNull();
    assertThat(
            Conditions.find(loraJob("verify").getStatus().getConditions(), "Complete")
                .get()
                .getReason())
        .isEqualTo("Publishing");

    kubelet.publish(publishPod, "sha256:" + "ee".repeat(32)); // a corrupted copy
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> Conditions.isTrue(loraJob("verify").getStatus().getConditions(), "Failed"));
    Condition failed =
        Conditions.find(loraJob("verify").getStatus().getConditions(), "Failed").get();
    assertThat(failed.getReason()).isEqualTo("DigestMismatch");
    assertThat(failed.getMessage()).contains("sha256:" + "ab".repeat(32));
    assertThat(loraJob("verify").getStatus().getPublishedVersion()).isNull();
    assertThat(loraJob("verify").getStatus().getTrials())
        .extracting(TrialStatus::getPhase)
        .containsOnly("Succeeded");
    assertThat(versionRecords())
        .singleElement()
        .satisfies(
            r ->
                assertThat(r.getMetadata().getLabels())
                    .containsEntry(Labels.VERSION_STATE, Labels.CLAIMED));
    await().atMost(Duration.ofSeconds(10)).until(() -> eventReasons().contains("DigestMismatch"));
    await()
        .atMost(Duration.ofSeconds(20))
        .until(() -> adapter() != null && adapter().getStatus() != null);
    assertThat(adapter().getStatus().getVersions()).as("a claim is not a version").isEmpty();

    // Retry: delete the publish Job; the operator creates it again, for the same version.
    String publishJob = publishPod.getMetadata().getLabels().get("batch.kubernetes.io/job-name");
    client
        .batch()
        .v1()
        .jobs()
        .inNamespace(namespace)
        .withName(publishJob)
        .withPropagationPolicy(io.fabric8.kubernetes.api.model.DeletionPropagation.BACKGROUND)
        .delete();
    await()
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(300))
        .ignoreExceptions()
        .until(
            () -> {
              kubelet.runningPublishPods().stream()
                  .filter(p -> !p.getMetadata().getUid().equals(publishPod.getMetadata().getUid()))
                  .forEach(
                      p -> kubelet.failPublish(p, 3, "DigestMismatch", "the trial folder changed"));
              return "PublishFailed"
                  .equals(
                      Conditions.find(loraJob("verify").getStatus().getConditions(), "Failed")
                          .get()
                          .getReason());
            });
    assertThat(
            Conditions.find(loraJob("verify").getStatus().getConditions(), "Failed")
                .get()
                .getMessage())
        .contains("DigestMismatch: the trial folder changed")
        .contains("delete the Job to try again");

    client
        .batch()
        .v1()
        .jobs()
        .inNamespace(namespace)
        .withName(publishJob)
        .withPropagationPolicy(io.fabric8.kubernetes.api.model.DeletionPropagation.BACKGROUND)
        .delete();
    kubelet.succeedEveryTrialUntil(
        trial -> 1.5, () -> isComplete(loraJob("verify")), Duration.ofSeconds(60));
    assertThat(loraJob("verify").getStatus().getPublishedVersion()).isEqualTo(1);
    assertThat(loraJob("verify").getStatus().getRankAnalysis()).as("a single rank").isNull();
    assertThat(versionRecords())
        .singleElement()
        .satisfies(
            r ->
                assertThat(r.getMetadata().getLabels())
                    .containsEntry(Labels.VERSION_STATE, Labels.PUBLISHED));
    await()
        .atMost(Duration.ofSeconds(20))
        .until(() -> adapter().getStatus().getVersions().size() == 1);
  }

  @Test
  void failingTrialIsRetriedThenMarkedFailedWhileTheRestFinish() {
    client
        .resource(Manifests.loraJob(Manifests.sweep("flaky", "4, 8, 16", 3, 1), namespace))
        .create();

    await()
        .atMost(Duration.ofSeconds(120))
        .pollInterval(Duration.ofMillis(300))
        .until(
            () -> {
              for (Pod pod : kubelet.runningPods(null)) {
                String trial = pod.getMetadata().getLabels().get(Labels.TRIAL);
                if (trial.equals("t001")) {
                  kubelet.fail(
                      pod,
                      1,
                      "TrainerError",
                      "CUDA error: an illegal memory access was encountered");
                } else {
                  kubelet.succeed(pod, EVAL_LOSS_BY_TRIAL.get(trial));
                }
              }
              kubelet.publishRunning();
              return isComplete(loraJob("flaky"));
            });

    LoraJob job = loraJob("flaky");
    TrialStatus failed = job.getStatus().getTrials().get(1);
    assertThat(failed.getPhase()).isEqualTo("Failed");
    assertThat(failed.getReason()).isEqualTo("TrainerError");
    assertThat(failed.getAttempts()).as("first attempt + backoffLimit retries").isEqualTo(2);
    assertThat(failed.getMessage())
        .contains("illegal memory access")
        .contains("BackoffLimitExceeded");
    assertThat(job.getStatus().getTrialsSucceeded()).isEqualTo(2);
    assertThat(job.getStatus().getTrialsFailed()).isEqualTo(1);
    assertThat(job.getStatus().getBestTrial().getName()).isEqualTo("t002");
    assertThat(job.getStatus().getPublishedVersion()).isEqualTo(1);
    awaitEvents(reasons -> assertThat(reasons).contains("TrialFailed"));
  }

  @Test
  void badConfigIsNotRetried() {
    client.resource(Manifests.loraJob(Manifests.sweep("badcfg", "4", 1, 3), namespace)).create();

    await()
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(300))
        .until(
            () -> {
              kubelet
                  .runningPods(null)
                  .forEach(
                      pod ->
                          kubelet.fail(
                              pod,
                              2,
                              "BadConfig",
                              "lora.targetModules: no module named q_proj in gpt2"));
              LoraJob job = loraJob("badcfg");
              return job.getStatus() != null
                  && Conditions.isTrue(job.getStatus().getConditions(), "Failed");
            });

    LoraJob job = loraJob("badcfg");
    assertThat(job.getStatus().getPhase()).isEqualTo("Failed");
    assertThat(Conditions.find(job.getStatus().getConditions(), "Failed").get().getReason())
        .isEqualTo("AllTrialsFailed");
    TrialStatus trial = job.getStatus().getTrials().get(0);
    assertThat(trial.getReason()).isEqualTo("BadConfig");
    assertThat(trial.getAttempts())
        .as("the pod failure policy stops retries of exit code 2")
        .isEqualTo(1);
    assertThat(trial.getMessage()).contains("no module named q_proj");
    assertThat(versionRecords()).isEmpty();
  }

  @Test
  void suspendStopsRunningTrialsAndResumeFinishesTheSweep() {
    client
        .resource(Manifests.loraJob(Manifests.sweep("pausing", "4, 8, 16", 2, 1), namespace))
        .create();
    await().atMost(Duration.ofSeconds(60)).until(() -> kubelet.runningPods(null).size() == 2);
    kubelet.succeed(kubelet.runningPods("t000").get(0), 2.0);
    await().atMost(Duration.ofSeconds(30)).until(() -> kubelet.runningPods("t002").size() == 1);

    suspend("pausing", true);
    // The Job controller deletes the pods of suspended Jobs; no new trial starts.
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> {
              LoraJob j = loraJob("pausing");
              return kubelet.runningPods(null).isEmpty()
                  && j.getStatus() != null
                  && "Suspended".equals(j.getStatus().getPhase())
                  // Trials follow once the informers have seen their Jobs suspended.
                  && j.getStatus().getTrials().stream()
                      .filter(t -> !t.getName().equals("t000"))
                      .allMatch(t -> "Suspended".equals(t.getPhase()));
            });
    LoraJob paused = loraJob("pausing");
    assertThat(Conditions.isTrue(paused.getStatus().getConditions(), "Suspended")).isTrue();
    assertThat(paused.getStatus().getTrials())
        .extracting(TrialStatus::getPhase)
        .containsExactly("Succeeded", "Suspended", "Suspended");
    assertThat(client.batch().v1().jobs().inNamespace(namespace).list().getItems())
        .filteredOn(j -> !j.getMetadata().getLabels().get(Labels.TRIAL).equals("t000"))
        .as("unfinished trial Jobs are suspended; the finished one is left alone")
        .hasSize(2)
        .allSatisfy(j -> assertThat(j.getSpec().getSuspend()).isTrue());

    suspend("pausing", false);
    kubelet.succeedEveryTrialUntil(
        EVAL_LOSS_BY_TRIAL::get, () -> isComplete(loraJob("pausing")), Duration.ofSeconds(90));
    assertThat(loraJob("pausing").getStatus().getPublishedVersion()).isEqualTo(1);
    assertThat(LoraJobs.trialJobs(client, namespace)).hasSize(3);
  }

  /**
   * A reconcile that keeps failing shows in status, not only in the log: while an admission policy
   * refuses version records, the finished sweep says so in Synced (with the API server's answer)
   * and a Warning Event; once the policy is gone, the operator's own retries publish.
   */
  @Test
  void aVersionRecordTheApiServerRefusesShowsInSyncedUntilItCanBeWritten() {
    String policy = "refuse-version-records-" + namespace;
    for (String yaml : refuseVersionRecords(policy)) {
      client.resource(Serialization.unmarshal(yaml, GenericKubernetesResource.class)).create();
    }
    try {
      // The policy applies once the API server has loaded it: a probe record is refused.
      await()
          .atMost(Duration.ofSeconds(30))
          .ignoreExceptions()
          .until(
              () ->
                  Assertions.catchThrowable(
                          () ->
                              client
                                  .configMaps()
                                  .inNamespace(namespace)
                                  .resource(
                                      new ConfigMapBuilder()
                                          .withNewMetadata()
                                          .withGenerateName("probe-")
                                          .addToLabels(Labels.VERSION, "0")
                                          .endMetadata()
                                          .build())
                                  .create())
                      != null);
      client.resource(Manifests.loraJob(Manifests.sweep("refused", "4", 1, 1), namespace)).create();

      kubelet.succeedEveryTrialUntil(
          trial -> 1.5,
          () -> {
            LoraJob job = loraJob("refused");
            return job.getStatus() != null
                && Conditions.find(job.getStatus().getConditions(), "Synced")
                    .filter(c -> "False".equals(c.getStatus()))
                    .isPresent();
          },
          Duration.ofSeconds(60));
      Condition synced =
          Conditions.find(loraJob("refused").getStatus().getConditions(), "Synced").get();
      assertThat(synced.getReason()).isEqualTo("ReconcileError");
      assertThat(synced.getMessage())
          .contains("the API server answered 422")
          .contains("version records are frozen here");
      assertThat(loraJob("refused").getStatus().getPublishedVersion()).isNull();
      await().atMost(Duration.ofSeconds(10)).until(() -> eventReasons().contains("ReconcileError"));
    } finally {
      client
          .resource(
              Serialization.unmarshal(
                  refuseVersionRecords(policy).get(1), GenericKubernetesResource.class))
          .delete();
      client
          .resource(
              Serialization.unmarshal(
                  refuseVersionRecords(policy).get(0), GenericKubernetesResource.class))
          .delete();
    }

    // Retries go on (at most a minute apart) and publish once the record can be written.
    kubelet.succeedEveryTrialUntil(
        trial -> 1.5, () -> isComplete(loraJob("refused")), Duration.ofSeconds(90));
    LoraJob job = loraJob("refused");
    assertThat(job.getStatus().getPublishedVersion()).isEqualTo(1);
    assertThat(Conditions.isTrue(job.getStatus().getConditions(), "Synced")).isTrue();
    assertThat(versionRecords()).hasSize(1);
    assertThat(eventReasons().stream().filter("ReconcileError"::equals))
        .as("one Warning when Synced turned False, not one per retry")
        .hasSize(1);
  }

  /** A ValidatingAdmissionPolicy and its binding: no version record in this test's namespace. */
  private java.util.List<String> refuseVersionRecords(String name) {
    return java.util.List.of(
        """
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingAdmissionPolicy
        metadata: {name: %1$s}
        spec:
          failurePolicy: Fail
          matchConstraints:
            resourceRules:
              - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
          validations:
            - expression: "!has(object.metadata.labels) || !('%2$s' in object.metadata.labels)"
              message: version records are frozen here (a test policy)
        """
            .formatted(name, Labels.VERSION),
        """
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingAdmissionPolicyBinding
        metadata: {name: %1$s}
        spec:
          policyName: %1$s
          validationActions: [Deny]
          matchResources:
            namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %2$s}}
        """
            .formatted(name, namespace));
  }

  private void suspend(String name, boolean suspend) {
    LoraJobs.suspend(client, namespace, name, suspend);
  }

  private LoraJob loraJob(String name) {
    return LoraJobs.get(client, namespace, name);
  }

  private LoraAdapter adapter() {
    return client.resources(LoraAdapter.class).inNamespace(namespace).withName("support-bot").get();
  }

  private java.util.List<ConfigMap> versionRecords() {
    return client
        .configMaps()
        .inNamespace(namespace)
        .withLabel(Labels.ADAPTER, "support-bot")
        .withLabel(Labels.VERSION)
        .list()
        .getItems();
  }

  /** Events are written after the reconcile that records them (EventRecorder): wait for them. */
  private void awaitEvents(java.util.function.Consumer<java.util.List<String>> assertion) {
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertion.accept(eventReasons()));
  }

  private java.util.List<String> eventReasons() {
    return client.v1().events().inNamespace(namespace).list().getItems().stream()
        .map(Event::getReason)
        .toList();
  }

  static boolean isComplete(LoraJob job) {
    return job != null
        && job.getStatus() != null
        && Conditions.isTrue(job.getStatus().getConditions(), "Complete");
  }

  /**
   * Records the most trial Jobs that were unfinished (and, if asked, unsuspended) at the same
   * moment, and counts every update to them.
   */
  static final class ActiveJobsWatch implements Watcher<Job>, AutoCloseable {
    private final Set<String> active = ConcurrentHashMap.newKeySet();
    private final AtomicInteger max = new AtomicInteger();
    private final AtomicInteger updates = new AtomicInteger();
    private final boolean onlyUnsuspended;
    private Watch watch;

    private ActiveJobsWatch(boolean onlyUnsuspended) {
      this.onlyUnsuspended = onlyUnsuspended;
    }

    static ActiveJobsWatch start(KubernetesClient client, String namespace) {
      return start(client, namespace, false);
    }

    /** With {@code onlyUnsuspended}, a suspended Job does not count as active (Kueue admits). */
    static ActiveJobsWatch start(
        KubernetesClient client, String namespace, boolean onlyUnsuspended) {
      ActiveJobsWatch w = new ActiveJobsWatch(onlyUnsuspended);
      w.watch = client.batch().v1().jobs().inNamespace(namespace).watch(w);
      return w;
    }

    @Override
    public void eventReceived(Action action, Job job) {
      boolean finished =
          job.getStatus() != null
              && job.getStatus().getConditions() != null
              && job.getStatus().getConditions().stream()
                  .anyMatch(
                      c ->
                          ("Complete".equals(c.getType()) || "Failed".equals(c.getType()))
                              && "True".equals(c.getStatus()));
      if (action == Action.MODIFIED) {
        updates.incrementAndGet();
      }
      boolean waiting = onlyUnsuspended && Boolean.TRUE.equals(job.getSpec().getSuspend());
      if (action == Action.DELETED || finished || waiting) {
        active.remove(job.getMetadata().getName());
      } else {
        active.add(job.getMetadata().getName());
      }
      max.accumulateAndGet(active.size(), Math::max);
    }

    @Override
    public void onClose(WatcherException cause) {}

    int max() {
      return max.get();
    }

    int updates() {
      return updates.get();
    }

    @Override
    public void close() {
      watch.close();
    }
  }
}
