package io.loraops.operator.it;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.contract.ContractJson;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.operator.support.Labels;
import io.loraops.operator.trainer.TrialJobBuilder;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;

/**
 * Plays the kubelet for trial pods: reports a pod as finished, with the exit code and termination
 * message a trainer would leave. The real Job controller (kube-controller-manager) takes it from
 * there: counting, retrying, marking the Job complete or failed.
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

  /**
   * Plays the kubelet until {@code done}: every trial pod that starts succeeds, with the eval loss
   * {@code evalLoss} gives for its trial.
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
