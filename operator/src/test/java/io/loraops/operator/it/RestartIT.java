package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobStatus;
import io.loraops.operator.publish.VersionRecords;
import io.loraops.operator.support.Labels;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** An operator restart, or a lost status, at any moment creates no duplicates and loses nothing. */
class RestartIT {

  KubernetesClient client = ControlPlane.client();
  String namespace = ControlPlane.newNamespace("restart");
  FakeKubelet kubelet = new FakeKubelet(client, namespace);

  @Test
  void restartMidSweepAndLostStatusLeaveNoDuplicateJobsAndExactlyOneVersion() {
    client
        .resource(Manifests.loraJob(Manifests.sweep("restart", "4, 8, 16, 32", 2, 1), namespace))
        .create();

    OperatorHarness first = OperatorHarness.start(client, namespace);
    await().atMost(Duration.ofSeconds(60)).until(() -> kubelet.runningPods(null).size() == 2);
    kubelet.succeed(kubelet.runningPods("t000").get(0), 2.0);
    first.close();

    // While no operator runs, a trial finishes; nothing may be lost.
    kubelet.succeed(kubelet.runningPods("t001").get(0), 1.5);

    // The sweep ends and the operator stops while its publish Job runs: the claim and the Job are
    // kept, and the next operator verifies what the Job reports instead of starting another.
    try (OperatorHarness second = OperatorHarness.start(client, namespace)) {
      await()
          .atMost(Duration.ofSeconds(120))
          .pollInterval(Duration.ofMillis(300))
          .ignoreExceptions()
          .until(
              () -> {
                for (var pod : kubelet.runningPods(null)) {
                  String trial = pod.getMetadata().getLabels().get(Labels.TRIAL);
                  kubelet.succeed(pod, trial.equals("t002") ? 1.8 : 1.9);
                }
                return kubelet.runningPublishPods().size() == 1;
              });
      assertThat(loraJob().getStatus().getPublishedVersion()).isNull();
    }
    assertThat(claims()).extracting(VersionRecords::isClaim).containsExactly(true);
    kubelet.publishRunning();

    try (OperatorHarness third = OperatorHarness.start(client, namespace)) {
      await().atMost(Duration.ofSeconds(60)).until(() -> SweepIT.isComplete(loraJob()));
      assertThat(loraJob().getStatus().getPublishedVersion()).isEqualTo(1);
      assertThat(loraJob().getStatus().getBestTrial().getName()).isEqualTo("t001");
    }
    assertThat(claims()).extracting(VersionRecords::isClaim).containsExactly(false);
    assertThat(claims().get(0).getImmutable()).isTrue();

    // The status is lost while no operator runs (a restore from backup, a buggy client): it is
    // rebuilt from the trial Jobs' recorded results and the version record, and no second
    // version appears.
    Conflicts.retry(
        () ->
            client
                .resources(LoraJob.class)
                .inNamespace(namespace)
                .withName("restart")
                .editStatus(
                    j -> {
                      j.setStatus(new LoraJobStatus());
                      return j;
                    }));
    try (OperatorHarness fourth = OperatorHarness.start(client, namespace)) {
      await().atMost(Duration.ofSeconds(30)).until(() -> SweepIT.isComplete(loraJob()));
      assertThat(loraJob().getStatus().getPublishedVersion()).isEqualTo(1);
      assertThat(loraJob().getStatus().getTrialsSucceeded()).isEqualTo(4);
      assertThat(loraJob().getStatus().getBestTrial().getEvalLoss()).isEqualTo(1.5);
    }

    List<Job> jobs = client.batch().v1().jobs().inNamespace(namespace).list().getItems();
    assertThat(jobs).hasSize(5);
    assertThat(jobs)
        .extracting(j -> j.getMetadata().getLabels().get(Labels.COMPONENT))
        .containsExactlyInAnyOrder("trial", "trial", "trial", "trial", "publish");
    assertThat(claims()).hasSize(1);
  }

  private List<ConfigMap> claims() {
    return client.configMaps().inNamespace(namespace).withLabel(Labels.VERSION).list().getItems();
  }

  private LoraJob loraJob() {
    return client.resources(LoraJob.class).inNamespace(namespace).withName("restart").get();
  }
}
