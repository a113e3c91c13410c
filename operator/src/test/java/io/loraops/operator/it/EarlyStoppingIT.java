package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.contract.ProgressEvent;
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
    AtomicReference<LoraJobStatus> midway = new AtomicReference<>();
    LoraJobStatus status = runSweep(SWEEP, EVALS, TOTAL_STEPS, midway);
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
        .extracting(e -> e.getStep() + ":" + e.getLoss())
        .containsExactly("10:2.5", "20:2.2", "30:2.0", "40:1.9");
    assertThat(trial(status, "t000").getProgress().getEvals())
        .as("with the kubelet's timestamp of each line")
        .allSatisfy(e -> assertThat(e.getTime()).isNotNull());
    assertThat(trial(status, "t000").getProgress().getEtaSeconds()).isZero();

    assertThat(midway.get()).as("progress was visible while trials ran").isNotNull();
    assertThat(midway.get().getRunning()).matches("t00\\d \\d+/40 loss .*");
    assertThat(midway.get().getPercentComplete()).isBetween(0, 99);
    assertThat(logs.reads.get()).isPositive();

    // Events are written after the reconcile that records them (EventRecorder): wait for them.
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(reasons())
                    .contains("TrialEarlyStopped", "TrialSucceeded", "VersionPublished"));
    List<String> reasons = reasons();
    assertThat(reasons)
        .as("a stopped trial's end is recorded once, as TrialEarlyStopped")
        .doesNotContain("TrialFailed");
    assertThat(
            operator.registry.get("lora.trials").tag("result", "early_stopped").counter().count())
        .isEqualTo(2);
    assertThat(operator.registry.find("lora.trials").tag("result", "failed").counter())
        .as("no trial counted as failed")
        .isNull();

    String wide = ControlPlane.kubectl("get", "lj", "lr", "-n", namespace, "-o", "wide");
    System.out.println(wide);
    assertThat(wide).contains("DONE%", "ETA", "STOPPED", "RUNNING");
    assertThat(wide.lines().skip(1).findFirst().orElseThrow()).contains("Succeeded", "5/5", "100");
  }

  @Test
  void ashaStopsDivergingTrialsAtItsRungsAndTheBestIsPublished() throws Exception {
    LoraJobStatus status = runSweep(ASHA_SWEEP, ASHA_EVALS, 90, new AtomicReference<>());

    assertThat(status.getPhase()).isEqualTo("Succeeded");
    assertThat(status.getProgress()).isEqualTo("6/6");
    assertThat(status.getTrialsSucceeded()).isEqualTo(3);
    assertThat(status.getTrialsEarlyStopped()).isEqualTo(3);
    assertThat(status.getBestTrial().getName()).isEqualTo("t002");
    assertThat(status.getPublishedVersion()).isEqualTo(1);

    for (String name : List.of("t003", "t004")) {
      TrialStatus stopped = trial(status, name);
      assertThat(stopped.getPhase()).isEqualTo("EarlyStopped");
      // t003 may reach step 10 just before or after t002 (they start together): 3 or 4 trials.
      assertThat(stopped.getMessage())
          .startsWith(
              "eval loss "
                  + (name.equals("t003") ? "3.000" : "4.000")
                  + " at step 10 is not in the top 1/3 of the ")
          .containsPattern("the best 1 continue, up to eval loss 2\\.[34]00") // t002's or t001's
          .contains("rungs at steps 10, 30")
          .contains("checkpoint is kept");
      assertThat(stopped.getProgress().getStep()).isEqualTo(10);
    }
    TrialStatus cut = trial(status, "t005");
    assertThat(cut.getPhase()).isEqualTo("EarlyStopped");
    assertThat(cut.getMessage())
        .as("best at rung 10, but not at rung 30 among t000, t001 and t002, which got there first")
        .startsWith(
            "eval loss 2.050 at step 30 is not in the top 1/3 of the 4 trials that reached that"
                + " step so far: the best 1 continue, up to eval loss 1.850");
    assertThat(cut.getProgress().getStep()).isEqualTo(30);
    for (String name : List.of("t003", "t004", "t005")) {
      Job job =
          client
              .batch()
              .v1()
              .jobs()
              .inNamespace(namespace)
              .withName(trial(status, name).getJobName())
              .get();
      assertThat(job.getSpec().getSuspend()).as("the stopped trial's Job is suspended").isTrue();
    }

    assertThat(status.getEarlyStopping().getStoppedTrials()).isEqualTo(3);
    assertThat(status.getEarlyStopping().getStepsSaved()).as("80 + 80 + 60").isEqualTo(220);
    assertThat(status.getEarlyStopping().getTrialSecondsSaved()).isEqualTo(330);
    assertThat(status.getEarlyStopping().getGpuSecondsSaved()).isEqualTo(330);
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> assertThat(reasons().stream().filter("TrialEarlyStopped"::equals)).hasSize(3));
  }

  private List<String> reasons() {
    return client.v1().events().inNamespace(namespace).list().getItems().stream()
        .map(Event::getReason)
        .toList();
  }

  /** Plays the trainers of the sweep in {@code yaml} until it is complete; its final status. */
  private LoraJobStatus runSweep(
      String yaml,
      Map<String, double[]> evals,
      int totalSteps,
      AtomicReference<LoraJobStatus> midway) {
    client.resource(Manifests.loraJob(yaml, namespace)).create();
    Map<String, Integer> stepByPod = new ConcurrentHashMap<>();
    await()
        .ignoreExceptions() // a pod deleted between the list and a write
        .atMost(Duration.ofSeconds(180))
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
                playTrainer(pod, job, stepByPod, evals, totalSteps);
              }
              kubelet.publishRunning();
              return SweepIT.isComplete(job);
            });
    return LoraJobs.get(client, namespace, "lr").getStatus();
  }

  /**
   * One tick of a trainer: starts the pod, then prints 10 steps and an evaluation per tick; a good
   * trial exits with its final eval loss once the operator has read its last evaluation, a
   * diverging one stalls after its first evaluation until it is stopped.
   */
  private void playTrainer(
      Pod pod,
      LoraJob job,
      Map<String, Integer> stepByPod,
      Map<String, double[]> evalsByTrial,
      int totalSteps) {
    String name = pod.getMetadata().getName();
    String trial = pod.getMetadata().getLabels().get(Labels.TRIAL);
    if (!logs.started(pod)) {
      logs.start(pod);
      stepByPod.put(name, 0);
      return;
    }
    double[] evals = evalsByTrial.get(trial);
    int step = stepByPod.getOrDefault(name, 0);
    if (step < evals.length * 10) {
      for (int s = step + 1; s <= step + 10; s++) {
        logs.print(
            pod,
            new ProgressEvent(
                "step", s, totalSteps, evals[step / 10] + 0.1, 1e-4, 900.0, s * SECONDS_PER_STEP));
      }
      logs.print(
          pod,
          new ProgressEvent(
              "eval",
              step + 10,
              totalSteps,
              evals[step / 10],
              null,
              null,
              (step + 10) * SECONDS_PER_STEP));
      stepByPod.put(name, step + 10);
      return;
    }
    boolean good = evals.length * 10 == totalSteps;
    TrialStatus seen = job.getStatus() == null ? null : trial(job.getStatus(), trial);
    if (good
        && seen != null
        && seen.getProgress() != null
        && Long.valueOf(totalSteps).equals(seen.getProgress().getStep())) {
      kubelet.succeed(pod, evals[evals.length - 1], totalSteps);
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

  /**
   * Eval loss every 10 steps up to 90 per trial, for ASHA with rungs at steps 10 and 30 (eta 3).
   * t000 and t001 run first, side by side, and pass both rungs (fewer than 3 trials there yet);
   * t002 is the best at both; t003 and t004 diverge and stall after step 10; t005 is the best at
   * step 10 but worse than t002 at step 30, where it stalls.
   */
  static final Map<String, double[]> ASHA_EVALS =
      Map.of(
          "t000", new double[] {2.5, 2.3, 2.0, 1.95, 1.9, 1.85, 1.8, 1.78, 1.75},
          "t001", new double[] {2.4, 2.2, 1.9, 1.85, 1.8, 1.75, 1.7, 1.68, 1.65},
          "t002", new double[] {2.3, 2.0, 1.85, 1.8, 1.7, 1.65, 1.6, 1.58, 1.55},
          "t003", new double[] {3.0},
          "t004", new double[] {4.0},
          "t005", new double[] {2.2, 2.1, 2.05});

  static final String ASHA_SWEEP =
      """
      apiVersion: loraops.io/v1alpha1
      kind: LoraJob
      metadata:
        name: lr
      spec:
        adapter: support-bot
        baseModel: {name: tiny-gpt2, uri: "pvc://models/tiny-gpt2"}
        dataset: {uri: "pvc://data/train.jsonl", format: text}
        training: {maxSteps: 90, evalEverySteps: 10, sequenceLength: 64}
        output: {uri: "pvc://adapters"}
        resources: {gpus: 1}
        sweep:
          learningRate: [1.0e-4, 2.0e-4, 3.0e-4, 3.0e-2, 1.0e-1, 5.0e-4]
          parallelism: 2
          earlyStopping: {rule: ASHA, minSteps: 10, reductionFactor: 3}
      """;
}
