package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.loraops.operator.it.RolloutAssertions;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Rollout with real parts: three versions trained by the real trainer, two replicas of the
 * project's inference server (the trainer image), and the operator installed by its chart
 * hot-loading versions into them: pin v1, canary v2, a corrupted v3 rolled back, a killed pod
 * replaced, and an operator killed mid-rollout; then the restart loader, rolling pods whose server
 * command takes the version from the env the operator writes into the pod template.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ServingE2E extends ServingScenario {
  static final String DEPLOYMENT = "quickstart-server";
  static final String RESTART_DEPLOYMENT = "restart-server";

  @Override
  String deployment() {
    return DEPLOYMENT;
  }

  @Override
  Pattern loadLine(String name) {
    return Pattern.compile("serve: loaded adapter '" + Pattern.quote(name) + "'");
  }

  @BeforeAll
  static void start() throws Exception {
    local = new LocalMode("serve");
  }

  @AfterAll
  static void stop() throws Exception {
    local.close();
  }

  @Test
  @Order(1)
  void versionsRollOutCanaryFirstAndAFailingVersionRollsBack() throws Exception {
    trainThreeVersions();

    // Serving: two server replicas and the adapter pinned to version 1.
    String serving = Files.readString(LocalMode.REPO.resolve("examples/quickstart-serving.yaml"));
    serving = edit(serving, "name: quickstart\n", "name: " + ADAPTER + "\n");
    serving = edit(serving, "version: latest", "version: 1");
    serving = edit(serving, "steps: [1, 100%]", "steps: [1, 100%]\n      pauseSeconds: 5");
    apply(serving);
    awaitServing(1, Duration.ofMinutes(3));
    Map<String, String> ips = podIps();
    assertThat(ips).hasSize(2);
    for (String ip : ips.values()) {
      assertThat(models(ip)).containsEntry("bot-v1", path(1)).containsEntry("bot", path(1));
      assertThat(complete(ip, "bot").path("choices").get(0).path("text").isTextual()).isTrue();
      assertThat(complete(ip, "tiny-llama-h32").path("choices")).hasSize(1);
    }

    // v2 pinned: one pod first (the canary), then both; v1 retired.
    pinAndSeeTheCanary(2, 1);
    awaitServing(2, Duration.ofMinutes(2));
    for (String ip : podIps().values()) {
      assertThat(models(ip)).containsEntry("bot", path(2)).doesNotContainKey("bot-v1");
    }

    // v3 with corrupted (NaN) weights: it loads, its probe fails, every pod goes back to v2.
    poison(local.local(version(3).getArtifactUri()).resolve("adapter_model.safetensors"));
    pinAndSeeItRolledBack(3, 2, "non-finite logits");
    for (String ip : podIps().values()) {
      assertThat(models(ip)).containsEntry("bot", path(2)).doesNotContainKey("bot-v3");
    }

    killAPodAndSeeItsReplacementServe(2, Duration.ofMinutes(2));
    revertWithTheOperatorKilledMidRollout(1);
  }

  @Test
  @Order(2)
  void theRestartLoaderRollsPodsThatStartWithTheVersion() throws Exception {
    trainThreeVersions();
    String[] example =
        Files.readString(LocalMode.REPO.resolve("examples/quickstart-serving.yaml"))
            .split("\n---\n");
    // A second server Deployment whose command loads the version named by the env the restart
    // loader writes into its template. It starts at 0 replicas: a pod started before the
    // operator wrote the env would get the $(VAR)s unexpanded. Its /v1 API wants a key, read
    // from a Secret by the server (VLLM_API_KEY) and by the operator (apiKeySecretRef).
    local.kubectl("create", "secret", "generic", "server-key", "--from-literal=api-key=" + API_KEY);
    String deployment = example[0].replace(DEPLOYMENT, RESTART_DEPLOYMENT);
    deployment =
        edit(
            deployment,
            "                  fieldPath: status.podIP\n",
            "                  fieldPath: status.podIP\n"
                + "            - name: VLLM_API_KEY\n"
                + "              valueFrom:\n"
                + "                secretKeyRef: {name: server-key, key: api-key}\n");
    deployment = edit(deployment, "replicas: 2", "replicas: 0");
    deployment =
        edit(
            deployment,
            "--port, \"8000\"]",
            "--port, \"8000\", --lora-modules, \"$(LORA_ADAPTER_BOT_NAME)=$(LORA_ADAPTER_BOT_PATH)\","
                + " \"bot=$(LORA_ADAPTER_BOT_PATH)\"]");
    apply(deployment);
    String adapter = edit(example[1], "name: quickstart\n", "name: " + ADAPTER + "\n");
    adapter = edit(adapter, "version: latest", "version: 2");
    adapter = edit(adapter, "deployment: " + DEPLOYMENT, "deployment: " + RESTART_DEPLOYMENT);
    adapter =
        edit(
            adapter, "loader: hotLoad", "loader: restart\n    apiKeySecretRef: {name: server-key}");
    apply(adapter);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofMinutes(1))
        .untilAsserted(() -> RolloutAssertions.assertServing(adapter(), 2));
    local.kubectl("scale", "deployment", RESTART_DEPLOYMENT, "--replicas=2");
    awaitServing(2, Duration.ofMinutes(2));
    Map<String, String> v2Pods = podIps(RESTART_DEPLOYMENT);
    assertThat(v2Pods).hasSize(2);
    String anyPod = v2Pods.values().iterator().next();
    assertThat(
            HTTP.send(
                    HttpRequest.newBuilder(URI.create("http://" + anyPod + ":8000/v1/models"))
                        .build(),
                    HttpResponse.BodyHandlers.ofString())
                .statusCode())
        .as("the server wants its key")
        .isEqualTo(401);
    for (String ip : v2Pods.values()) {
      assertThat(models(ip)).containsOnlyKeys("bot-v2", "bot");
      assertThat(models(ip).values()).allSatisfy(root -> assertThat(root).isEqualTo(path(2)));
      assertThat(complete(ip, "bot").path("choices")).hasSize(1);
    }

    // Pinning version 1 rolls the pods: each replacement starts with version 1.
    pin(1);
    awaitServing(1, Duration.ofMinutes(3));
    Map<String, String> v1Pods = podIps(RESTART_DEPLOYMENT);
    assertThat(v1Pods).hasSize(2);
    assertThat(v1Pods.keySet()).doesNotContainAnyElementsOf(v2Pods.keySet());
    for (String ip : v1Pods.values()) {
      assertThat(models(ip)).containsOnlyKeys("bot-v1", "bot");
      assertThat(models(ip).values()).allSatisfy(root -> assertThat(root).isEqualTo(path(1)));
    }
  }
}
