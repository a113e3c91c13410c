package io.loraops.operator.it;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishConfig;
import io.loraops.contract.PublishSummary;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.operator.support.Labels;
import io.loraops.operator.trainer.PublishJobBuilder;
import io.loraops.operator.trainer.TrialJobBuilder;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;

/**
 * Plays the kubelet for trial and publish pods: reports a pod as finished, with the exit code and
 * termination message a trainer would leave. The real Job controller (kube-controller-manager)
 * takes it from there: counting, retrying, marking the Job complete or failed.
 */
public final class FakeKubelet {

  private final KubernetesClient client;
  private final String namespace;

  public FakeKubelet(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  /** Trial pods that have not finished, for one trial ("t001") or all (null). */
  public List<Pod> runningPods(String trial) {
    return client
        .pods()
        .inNamespace(namespace)
        .withLabelSelector(Labels.TRIAL_SELECTOR)
        .list()
        .getItems()
        .stream()
        .filter(p -> trial == null || trial.equals(p.getMetadata().getLabels().get(Labels.TRIAL)))
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .filter(
            p ->
                p.getStatus() == null
                    || p.getStatus().getPhase() == null
                    || !List.of("Succeeded", "Failed").contains(p.getStatus().getPhase()))
        .toList();
  }

  /** Publish pods that have not finished. */
  public List<Pod> runningPublishPods() {
    return client
        .pods()
        .inNamespace(namespace)
        .withLabelSelector(Labels.PUBLISH_SELECTOR)
        .list()
        .getItems()
        .stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .filter(
            p ->
                p.getStatus() == null
                    || p.getStatus().getPhase() == null
                    || !List.of("Succeeded", "Failed").contains(p.getStatus().getPhase()))
        .toList();
  }

  /** Every running publish pod does its work as {@code lora-trainer publish} would. */
  public void publishRunning() {
    for (Pod pod : runningPublishPods()) {
      publish(pod, null);
    }
  }

  /**
   * The publish pod reports what {@code lora-trainer publish} reports for its config (read from the
   * pod's ConfigMap): the copy's digest equal to the trial's ({@code digest} overrides it, to play
   * a corrupted copy), and for a rank analysis each other rank capturing 0.95 of the best trial's
   * directions on every module (recommending the smallest).
   */
  public void publish(Pod pod, String digest) {
    String configMap =
        pod.getSpec().getVolumes().stream()
            .filter(v -> v.getConfigMap() != null)
            .findFirst()
            .orElseThrow()
            .getConfigMap()
            .getName();
    PublishConfig cfg;
    try {
      cfg =
          ContractJson.readPublishConfig(
              client
                  .configMaps()
                  .inNamespace(namespace)
                  .withName(configMap)
                  .get()
                  .getData()
                  .get(PublishJobBuilder.CONFIG_KEY));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    String source =
        cfg.expectedDigest() != null ? cfg.expectedDigest() : "sha256:" + "cd".repeat(32);
    PublishSummary.RankSummary ranks = null;
    if (cfg.rankAnalysis() != null) {
      List<PublishSummary.Capture> captures = new ArrayList<>();
      for (PublishConfig.Candidate c : cfg.rankAnalysis().others()) {
        Map<String, Double> captured = new TreeMap<>();
        cfg.manifest().targetModules().forEach(m -> captured.put(m, 0.95));
        captures.add(new PublishSummary.Capture(c.rank(), c.trial(), captured));
      }
      ranks =
          new PublishSummary.RankSummary(
              cfg.manifest().rank(),
              cfg.rankAnalysis().topDirections(),
              cfg.rankAnalysis().threshold(),
              Math.min(
                  cfg.manifest().rank(),
                  captures.stream().mapToInt(PublishSummary.Capture::rank).min().orElseThrow()),
              captures,
              null);
    }
    PublishSummary summary =
        new PublishSummary(
            TrialConfig.CURRENT_VERSION,
            TrialSummary.SUCCEEDED,
            0,
            null,
            null,
            source,
            digest != null ? digest : source,
            cfg.versionPath(),
            cfg.merged() == null ? null : cfg.merged().path(),
            ranks);
    finish(pod, "Succeeded", 0, "Completed", ContractJson.toJson(summary));
  }

  /** The publish pod failed with this exit code, reason and message. */
  public void failPublish(Pod pod, int exitCode, String reason, String message) {
    finish(
        pod,
        "Failed",
        exitCode,
        "Error",
        ContractJson.toJson(PublishSummary.failure(exitCode, reason, message)));
  }

  /**
   * Plays the kubelet until {@code done}: every trial pod that starts succeeds, with the eval loss
   * {@code evalLoss} gives for its trial, and every publish pod does its work.
   */
  public void succeedEveryTrialUntil(
      ToDoubleFunction<String> evalLoss, Callable<Boolean> done, Duration timeout) {
    await()
        .ignoreExceptions() // a pod deleted between the list and its status write
        .atMost(timeout)
        .pollInterval(Duration.ofMillis(300))
        .until(
            () -> {
              for (Pod pod : runningPods(null)) {
                succeed(
                    pod, evalLoss.applyAsDouble(pod.getMetadata().getLabels().get(Labels.TRIAL)));
              }
              publishRunning();
              return done.call();
            });
  }

  /** The trainer succeeded with this eval loss after 20 steps. */
  public void succeed(Pod pod, double evalLoss) {
    succeed(pod, evalLoss, 20);
  }

  /** The trainer succeeded with this eval loss after {@code steps} optimizer steps. */
  public void succeed(Pod pod, double evalLoss, long steps) {
    TrialSummary summary =
        new TrialSummary(
            TrialConfig.CURRENT_VERSION,
            TrialSummary.SUCCEEDED,
            0,
            null,
            null,
            new TrialSummary.Metrics(
                evalLoss + 0.1,
                evalLoss,
                evalLoss,
                Math.exp(evalLoss),
                steps,
                1000.0,
                9216L,
                37_000L,
                12.5),
            "sha256:" + "ab".repeat(32),
            List.of("adapter_config.json", "adapter_model.safetensors"),
            "/lora/claims/adapters/x");
    finish(pod, "Succeeded", 0, "Completed", ContractJson.toJson(summary));
  }

  /** The trainer failed with this exit code and message. */
  public void fail(Pod pod, int exitCode, String reason, String message) {
    finish(
        pod,
        "Failed",
        exitCode,
        "Error",
        ContractJson.toJson(TrialSummary.failure(exitCode, reason, message)));
  }

  private void finish(Pod pod, String phase, int exitCode, String reason, String message) {
    String now = Instant.now().toString();
    Conflicts.retry(
        () ->
            client
                .pods()
                .inNamespace(namespace)
                .withName(pod.getMetadata().getName())
                .editStatus(
                    p ->
                        new PodBuilder(p)
                            .editOrNewStatus()
                            .withPhase(phase)
                            .withStartTime(now)
                            .withContainerStatuses(
                                new ContainerStatusBuilder()
                                    .withName(TrialJobBuilder.CONTAINER)
                                    .withImage(p.getSpec().getContainers().get(0).getImage())
                                    .withImageID("")
                                    .withReady(false)
                                    .withRestartCount(0)
                                    .withNewState()
                                    .withNewTerminated()
                                    .withExitCode(exitCode)
                                    .withReason(reason)
                                    .withMessage(message)
                                    .withStartedAt(now)
                                    .withFinishedAt(now)
                                    .endTerminated()
                                    .endState()
                                    .build())
                            .endStatus()
                            .build()));
  }
}
