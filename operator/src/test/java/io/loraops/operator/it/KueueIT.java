package io.loraops.operator.it;

import static io.loraops.operator.it.SweepIT.EVAL_LOSS_BY_TRIAL;
import static io.loraops.operator.it.SweepIT.isComplete;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.support.Labels;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Trial Jobs under Kueue's real controller (hack/kueue.sh): admission within a GPU quota, suspend
 * and resume through the Workloads' spec.active with no write loop, and deletion. The fake kubelet
 * finishes the pods of admitted Jobs, as in {@link SweepIT}.
 */
class KueueIT {

  KubernetesClient client = ControlPlane.client();
  String namespace;
  OperatorHarness operator;
  FakeKubelet kubelet;

  @BeforeEach
  void startOperator() {
    namespace = ControlPlane.newNamespace("kueue");
    KueueCluster.queueIn(client, namespace);
    operator = OperatorHarness.start(client, namespace);
    kubelet = new FakeKubelet(client, namespace);
  }

  @AfterEach
  void stopOperator() {
    operator.close();
  }

  @Test
  void kueueAdmitsTrialsWithinTheGpuQuotaAndTheSweepPublishes() {
    SweepIT.ActiveJobsWatch admitted = SweepIT.ActiveJobsWatch.start(client, namespace, true);
    create("quota", "4, 8, 16, 32", 4);

    // Four trial Jobs exist at once (parallelism 4), but 2 GPUs admit only two of them (which
    // two is Kueue's choice: they were created in the same second).
    await()
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () ->
                assertThat(phases("quota"))
                    .containsExactlyInAnyOrder("Pending", "Pending", "Queued", "Queued"));
    assertThat(kubelet.runningPods(null)).hasSize(2);
    assertThat(loraJob("quota").getStatus().getTrials())
        .filteredOn(t -> t.getPhase().equals("Queued"))
        .extracting(TrialStatus::getReason)
        .containsOnly("WaitingForAdmission");

    kubelet.succeedEveryTrialUntil(
        EVAL_LOSS_BY_TRIAL::get, () -> isComplete(loraJob("quota")), Duration.ofSeconds(120));
    admitted.close();
    assertThat(admitted.max()).as("trial Jobs admitted at once").isEqualTo(KueueCluster.GPUS);
    assertThat(KueueCluster.workloads(client, namespace)).as("one Workload per trial").hasSize(4);
    assertThat(loraJob("quota").getStatus().getPublishedVersion()).isEqualTo(1);
    assertThat(loraJob("quota").getStatus().getBestTrial().getName()).isEqualTo("t001");
  }

  @Test
  void suspendDeactivatesWorkloadsWithoutAWriteLoopResumeFinishesAndDeleteFreesAll()
      throws InterruptedException {
    create("pausing", "4, 8, 16", 3);
    await()
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () ->
                assertThat(phases("pausing"))
                    .containsExactlyInAnyOrder("Pending", "Pending", "Queued"));

    SweepIT.ActiveJobsWatch writes = SweepIT.ActiveJobsWatch.start(client, namespace);
    suspend("pausing", true);
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () ->
                kubelet.runningPods(null).isEmpty()
                    && phases("pausing").equals(List.of("Suspended", "Suspended", "Suspended"))
                    && workloadsActive().equals(List.of(false, false, false))
                    && jobs().stream().allMatch(j -> j.getSpec().getSuspend()));
    // The Job controller and Kueue finish their own writes (pods gone, Suspended condition,
    // start time reset, the pod template restored); then nothing may change while suspended.
    // Writing an admitted Job's spec.suspend instead looped at 25-60 Job updates a second.
    Thread.sleep(5_000);
    int settled = writes.updates();
    Thread.sleep(5_000);
    writes.close();
    assertThat(writes.updates() - settled).as("Job updates in 5 s while suspended").isZero();
    assertThat(settled).as("Job updates to suspend three trials").isLessThan(30);
    LoraJob paused = loraJob("pausing");
    assertThat(paused.getStatus().getPhase()).isEqualTo("Suspended");
    assertThat(Conditions.isTrue(paused.getStatus().getConditions(), "Suspended")).isTrue();
    assertThat(trial("pausing", 2).getMessage()).contains("Workload is deactivated");
    assertThat(KueueCluster.workloads(client, namespace))
        .as("deactivated Workloads hold no quota")
        .noneMatch(w -> conditionTrue(w, "QuotaReserved"));

    suspend("pausing", false);
    kubelet.succeedEveryTrialUntil(
        EVAL_LOSS_BY_TRIAL::get, () -> isComplete(loraJob("pausing")), Duration.ofSeconds(90));
    assertThat(loraJob("pausing").getStatus().getPublishedVersion()).isEqualTo(1);
    assertThat(jobs()).hasSize(3);

    // Deleting the LoraJob frees everything: its Jobs, and with them Kueue's Workloads.
    client.resource(loraJob("pausing")).delete();
    await()
        .atMost(Duration.ofSeconds(60))
        .until(() -> jobs().isEmpty() && KueueCluster.workloads(client, namespace).isEmpty());
  }

  private void create(String name, String ranks, int parallelism) {
    LoraJob job = Manifests.loraJob(Manifests.sweep(name, ranks, parallelism, 1), namespace);
    job.getMetadata().setLabels(Map.of(Labels.KUEUE_QUEUE_NAME, KueueCluster.QUEUE));
    client.resource(job).create();
  }

  private void suspend(String name, boolean suspend) {
    LoraJobs.suspend(client, namespace, name, suspend);
  }

  private LoraJob loraJob(String name) {
    return LoraJobs.get(client, namespace, name);
  }

  private List<String> phases(String name) {
    LoraJob job = loraJob(name);
    return job == null || job.getStatus() == null
        ? List.of()
        : job.getStatus().getTrials().stream().map(TrialStatus::getPhase).toList();
  }

  private TrialStatus trial(String name, int index) {
    return loraJob(name).getStatus().getTrials().get(index);
  }

  /** Trial Jobs (the publish Job carries no queue label: Kueue does not admit it). */
  private List<Job> jobs() {
    return LoraJobs.trialJobs(client, namespace);
  }

  /** spec.active of each Workload, by the name of the trial Job it admits. */
  private List<Boolean> workloadsActive() {
    return KueueCluster.workloads(client, namespace).stream()
        .sorted(java.util.Comparator.comparing(KueueIT::ownerJob))
        .map(w -> !Boolean.FALSE.equals(spec(w).get("active")))
        .toList();
  }

  private static String ownerJob(GenericKubernetesResource workload) {
    return workload.getMetadata().getOwnerReferences().get(0).getName();
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> spec(GenericKubernetesResource workload) {
    return (Map<String, Object>) workload.getAdditionalProperties().get("spec");
  }

  @SuppressWarnings("unchecked")
  private static boolean conditionTrue(GenericKubernetesResource workload, String type) {
    Map<String, Object> status =
        (Map<String, Object>) workload.getAdditionalProperties().get("status");
    if (status == null || status.get("conditions") == null) {
      return false;
    }
    return ((List<Map<String, Object>>) status.get("conditions"))
        .stream().anyMatch(c -> type.equals(c.get("type")) && "True".equals(c.get("status")));
  }
}
