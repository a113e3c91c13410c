package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.operator.api.v1alpha1.LoraJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The packaged operator (target/quarkus-app), started as a user would start it, against the real
 * control plane; driven and inspected with kubectl and its HTTP endpoints.
 */
class OperatorAppIT {

  KubernetesClient client = ControlPlane.client();
  String namespace = ControlPlane.newNamespace("app");
  OperatorProcess app;

  @BeforeEach
  void startTheOperator() {
    app = OperatorProcess.start(namespace, Path.of("target/operator-app-it.log"), Map.of());
    await()
        .atMost(Duration.ofSeconds(60))
        .ignoreExceptions()
        .until(() -> app.get("/q/health/ready").statusCode() == 200);
  }

  @AfterEach
  void stopTheOperator() {
    app.close();
  }

  @Test
  void kubectlShowsTheSweepAndThePublishedVersion() throws Exception {
    Path manifest = Files.createTempFile("lorajob", ".yaml");
    Files.writeString(manifest, Manifests.sweep("kubectl-sweep", "4, 8", 2, 1));
    ControlPlane.kubectl("apply", "-n", namespace, "-f", manifest.toString());

    await()
        .atMost(Duration.ofSeconds(60))
        .until(() -> new FakeKubelet(client, namespace).runningPods(null).size() == 2);
    // The status patch follows the pods by a moment.
    String running =
        await()
            .atMost(Duration.ofSeconds(30))
            .until(
                () -> ControlPlane.kubectl("get", "lorajobs", "-n", namespace),
                out -> out.contains("Running"));
    assertThat(running.lines().findFirst().orElseThrow())
        .containsSubsequence(
            "NAME", "PHASE", "TRIALS", "BEST RANK", "BEST EVAL LOSS", "VERSION", "AGE");
    assertThat(running).contains("kubectl-sweep").contains("Running").contains("0/2");

    FakeKubelet kubelet = new FakeKubelet(client, namespace);
    kubelet.succeedEveryTrialUntil(
        trial -> trial.equals("t000") ? 1.7 : 1.4,
        () ->
            SweepIT.isComplete(
                client
                    .resources(LoraJob.class)
                    .inNamespace(namespace)
                    .withName("kubectl-sweep")
                    .get()),
        Duration.ofSeconds(60));
    await()
        .atMost(Duration.ofSeconds(20))
        .until(
            () ->
                ControlPlane.kubectl("get", "loraadapters", "-n", namespace).contains("Available"));

    String all = ControlPlane.kubectl("get", "lorajobs,loraadapters", "-n", namespace);
    List<String> lines = all.lines().toList();
    assertThat(all).containsSubsequence("NAME", "BASE", "LATEST", "SERVING", "PHASE", "AGE");
    assertThat(lines)
        .anySatisfy(
            l ->
                assertThat(l)
                    .contains("kubectl-sweep")
                    .contains("Succeeded")
                    .contains("2/2")
                    .contains("1.4"));
    assertThat(lines)
        .anySatisfy(
            l -> assertThat(l).contains("support-bot").contains("tiny-gpt2").contains("Available"));
    assertThat(ControlPlane.kubectl("get", "lora", "-n", namespace))
        .contains("kubectl-sweep")
        .contains("support-bot");
    assertThat(ControlPlane.kubectl("get", "lj", "kubectl-sweep", "-n", namespace, "-o", "wide"))
        .contains("COMPLETE")
        .contains("VersionPublished");
    assertThat(
            ControlPlane.kubectl(
                "wait",
                "--for=condition=Complete",
                "lorajob/kubectl-sweep",
                "-n",
                namespace,
                "--timeout=10s"))
        .contains("condition met");
    assertThat(ControlPlane.kubectl("events", "--for", "lorajob/kubectl-sweep", "-n", namespace))
        .contains("TrialSucceeded")
        .contains("VersionPublished");
    assertThat(ControlPlane.kubectl("explain", "lorajob.spec.sweep.alphaPerRank"))
        .contains("alpha = alphaPerRank x rank");

    String metrics = app.get("/q/metrics").body();
    assertThat(metrics)
        .contains(
            "lora_trials_total{adapter=\"support-bot\",namespace=\""
                + namespace
                + "\",result=\"succeeded\"} 2.0")
        .contains(
            "lora_adapter_versions_total{adapter=\"support-bot\",namespace=\""
                + namespace
                + "\"} 1.0")
        .contains("lora_jobs_active{adapter=\"support-bot\",namespace=\"" + namespace + "\"} 0.0")
        .contains("lora_trial_duration_seconds_count")
        .contains("operator_sdk_reconciliations_started_total")
        // One series per controller, never per custom resource: the label set stays bounded.
        .doesNotContain("resource_name=")
        .doesNotContain("kubectl-sweep");
  }
}
