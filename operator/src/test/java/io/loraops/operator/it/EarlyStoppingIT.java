package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.contract.ProgressEvent;
import io.loraops.operator.api.v1alpha1.EvalPoint;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobStatus;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.support.Labels;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Live progress and early stopping against a real API server: the trainers' progress lines go
 * through the real {@code pods/log} subresource (proxied to {@link FakeKubeletLogs}), trial Jobs
 * through the real Job controller.
 */
class EarlyStoppingIT {

  /** Eval loss at steps 10, 20, 30 and 40 per trial; the diverging ones never get past 10. */
  static final Map<String, double[]> EVALS =
      Map.of(
          "t000", new double[] {2.5, 2.2, 2.0, 1.9},
          "t001", new double[] {2.4, 2.1, 1.9, 1.8},
          "t002", new double[] {2.3, 2.0, 1.85, 1.7},
          "t003", new double[] {3.0}, // lr 3e-2 diverges
          "t004", new double[] {4.0}); // lr 1e-1 diverges

  static final int TOTAL_STEPS = 40;
  static final double SECONDS_PER_STEP = 1.5;

  KubernetesClient client = ControlPlane.client();
  String namespace;
  OperatorHarness operator;
  FakeKubelet kubelet;
  FakeKubeletLogs logs;

  @BeforeEach
  void start() throws Exception {
    namespace = ControlPlane.newNamespace("early");
    operator = OperatorHarness.start(client, namespace);
    kubelet = new FakeKubelet(client, namespace);
    logs = new FakeKubeletLogs(client, namespace);
  }

  @AfterEach
  void stop() {
    operator.close();
    if (logs != null) {
      logs.close();
    }
  }

  @Test
  void divergingLearningRatesAreStoppedEarlyAndTheBestFinishedTrialIsPublished() throws Exception {
    client.resource(Manifests.loraJob(SWEEP, namespace)).create();
    Map<String, Integer> stepByPod = new ConcurrentHashMap<>();
    AtomicReference<LoraJobStatus> midway = new AtomicReference<>();

    await()
        .ignoreExceptions() // a pod deleted between the list and a write
        .atMost(Duration.ofSeconds(120))
        .pollInterval(Duration.ofMillis(300))
        .until(
            () -> {
              logs.reapDeletedPods();
              LoraJob job = LoraJobs.get(client, namespace, "lr");
              if (midway.get() == null
                  && job.getStatus() != null
                  && job.getStatus().getRunning() != null
                  && job.getStatus().getEta() != null) {
                midway.set(job.getStatus());
              }
              for (Pod pod : kubelet.runningPods(null)) {
                playTrainer(pod, job, stepByPod);
              }
              kubelet.publishRunning();
              return SweepIT.isComplete(job);
            });

    LoraJobStatus status = LoraJobs.get(client, namespace, "lr").getStatus();
    assertThat(status.getPhase()).isEqualTo("Succeeded");
    assertThat(status.getProgress()).isEqualTo("5/5");
    assertThat(status.getTrialsSucceeded()).isEqualTo(3);
    assertThat(status.getTrialsEarlyStopped()).isEqualTo(2);
    assertThat(status.getBestTrial().getName()).isEqualTo("t002");
    assertThat(status.getPublishedVersion()).isEqualTo(1);
    assertThat(status.getPercentComplete()).isEqualTo(100);

    for (String name : List.of("t003", "t004")) {
      TrialStatus stopped = trial(status, name);
      assertThat(stopped.getPhase()).isEqualTo("EarlyStopped");
      assertThat(stopped.getReason()).isEqualTo("EarlyStopped");
      assertThat(stopped.getMessage())
          .startsWith("eval loss " + (name.equals("t003") ? "3.000" : "4.000") + " at step 10")
          .contains("worse than the median")
          .contains("checkpoint is kept");
      assertThat(stopped.getProgress().getStep()).isEqualTo(10);
      Job job =
          client.batch().v1().jobs().inNamespace(namespace).withName(stopped.getJobName()).get();
      assertThat(job.getSpec().getSuspend()).as("the stopped trial's Job is suspended").isTrue();
      assertThat(job.getMetadata().getAnnotations()).containsKey(Labels.RESULT_ANNOTATION);
    }
    // t003 was judged against t000 and t001 (median of 2.5 and 2.4).
    assertThat(trial(status, "t003").getMessage()).contains("median 2.450 of 2 finished trials");
    await()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              logs.reapDeletedPods();
              assertThat(kubelet.runningPods("t003")).isEmpty();
              assertThat(kubelet.runningPods("t004")).isEmpty();
            });

    assertThat(status.getEarlyStopping().getStoppedTrials()).isEqualTo(2);
    assertThat(status.getEarlyStopping().getStepsSaved()).isEqualTo(60);
    assertThat(status.getEarlyStopping().getTrialSecondsSaved())
        .as("30 steps x 1.5 s, twice")
        .isEqualTo(90);
    assertThat(status.getEarlyStopping().getGpuSecondsSaved()).as("1 GPU per trial").isEqualTo(90);

    assertThat(trial(status, "t000").getProgress().getEvals())
        .as("every evaluation of a finished trial, kept for later comparisons")
        .containsExactly(
            new EvalPoint(10L, 2.5),
            new EvalPoint(20L, 2.2),
            new EvalPoint(30L, 2.0),
            new EvalPoint(40L, 1.9));
    assertThat(trial(status, "t000").getProgress().getEtaSeconds()).isZero();

    assertThat(midway.get()).as("progress was visible while trials ran").isNotNull();
    assertThat(midway.get().getRunning()).matches("t00\\d \\d+/40 loss .*");
    assertThat(midway.get().getPercentComplete()).isBetween(0, 99);
    assertThat(logs.reads.get()).isPositive();

    List<String> reasons =
        client.v1().events().inNamespace(namespace).list().getItems().stream()
            .map(Event::getReason)
            .toList();
    assertThat(reasons).contains("TrialEarlyStopped", "TrialSucceeded", "VersionPublished");
    assertThat(
            operator.registry.get("lora.trials").tag("result", "early_stopped").counter().count())
        .isEqualTo(2);

    String wide = ControlPlane.kubectl("get", "lj", "lr", "-n", namespace, "-o", "wide");
    System.out.println(wide);
    assertThat(wide).contains("DONE%", "ETA", "STOPPED", "RUNNING");
    assertThat(wide.lines().skip(1).findFirst().orElseThrow()).contains("Succeeded", "5/5", "100");
  }

  /**
   * One tick of a trainer: starts the pod, then prints 10 steps and an evaluation per tick; a good
   * trial exits with its final eval loss once the operator has read its last evaluation, a
   * diverging one stalls after its first evaluation until it is stopped.
   */
  private void playTrainer(Pod pod, LoraJob job, Map<String, Integer> stepByPod) {
    String name = pod.getMetadata().getName();
    String trial = pod.getMetadata().getLabels().get(Labels.TRIAL);
    if (!logs.started(pod)) {
      logs.start(pod);
      stepByPod.put(name, 0);
      return;
    }
    double[] evals = EVALS.get(trial);
    int step = stepByPod.getOrDefault(name, 0);
    if (step < evals.length * 10) {
      for (int s = step + 1; s <= step + 10; s++) {
        logs.print(
            pod,
            new ProgressEvent(
                "step", s, TOTAL_STEPS, evals[step / 10] + 0.1, 1e-4, 900.0, s * SECONDS_PER_STEP));
      }
      logs.print(
          pod,
          new ProgressEvent(
              "eval",
              step + 10,
              TOTAL_STEPS,
              evals[step / 10],
              null,
              null,
              (step + 10) * SECONDS_PER_STEP));
      stepByPod.put(name, step + 10);
      return;
    }
    boolean good = evals.length * 10 == TOTAL_STEPS;
    TrialStatus seen = job.getStatus() == null ? null : trial(job.getStatus(), trial);
    if (good
        && seen != null
        && seen.getProgress() != null
        && Long.valueOf(TOTAL_STEPS).equals(seen.getProgress().getStep())) {
      kubelet.succeed(pod, evals[evals.length - 1], TOTAL_STEPS);
    }
  }

  private static TrialStatus trial(LoraJobStatus status, String name) {
    return status.getTrials().stream().filter(t -> t.getName().equals(name)).findFirst().get();
  }

  static final String SWEEP =
      """
      apiVersion: loraops.io/v1alpha1
      kind: LoraJob
      metadata:
        name: lr
      spec:
        adapter: support-bot
        baseModel: {name: tiny-gpt2, uri: "pvc://models/tiny-gpt2"}
        dataset: {uri: "pvc://data/train.jsonl", format: text}
        training: {maxSteps: 40, evalEverySteps: 10, sequenceLength: 64}
        output: {uri: "pvc://adapters"}
        resources: {gpus: 1}
        sweep:
          learningRate: [1.0e-4, 2.0e-4, 3.0e-4, 3.0e-2, 1.0e-1]
          parallelism: 2
          earlyStopping: {rule: Median, minSteps: 10, minTrials: 2}
      """;
}
