package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The hotLoad rollout on real vLLM: two replicas of vLLM's CPU build (examples/quickstart-vllm.yaml
 * on the real node, see {@link #onThisNode}) behind an API key, versions trained by the real
 * trainer, and the operator installed by its chart. Pin v1; canary v2, then all pods; a v3 with NaN
 * weights is caught by the probe gate and rolled back, with the base model and v2 answering as
 * before; a v4 whose rank is above the servers' --max-lora-rank is refused before any load; a
 * killed pod's replacement gets the serving version; an operator killed mid-rollout loads nothing
 * twice; deleting the LoraAdapter unloads it.
 */
class VllmServingE2E extends ServingScenario {
  static final String DEPLOYMENT = "quickstart-vllm";
  static final String BASE = "tiny-llama-h32";

  @Override
  String deployment() {
    return DEPLOYMENT;
  }

  @Override
  Pattern loadLine(String name) {
    // vLLM's log line for a load that is not in place
    return Pattern.compile("Loaded new LoRA adapter: name '" + Pattern.quote(name) + "'");
  }

  /**
   * examples/quickstart-vllm.yaml as it runs on this node. The one stand-in of the E2E tier: the
   * published vLLM image is CUDA-only and cannot be pulled here, so the pods run vLLM's CPU build
   * that {@code make vllm} installs (6 GB, mounted read-only from the node, with the Python it was
   * made with) on an image of the shared libraries it needs (hack/images.sh). The rest of the
   * example (arguments, environment, probes, claims, resources) is run as written.
   */
  static String onThisNode(String manifest) throws Exception {
    Path venv = LocalMode.REPO.resolve(".tools/vllm").toRealPath();
    String home =
        Files.readAllLines(venv.resolve("pyvenv.cfg")).stream()
            .filter(line -> line.startsWith("home = "))
            .map(line -> line.substring("home = ".length()))
            .findFirst()
            .orElseThrow();
    Path python = Path.of(home).getParent();
    manifest =
        edit(
            manifest,
            "image: vllm/vllm-openai:v0.32.0",
            "image: localhost/lora/vllm-runtime:bookworm\n"
                + "          command: ["
                + venv.resolve("bin/python3")
                + ", -m, vllm.entrypoints.openai.api_server]");
    manifest =
        edit(
            manifest,
            "          env:\n",
            "          env:\n"
                + "            - {name: HF_HUB_OFFLINE, value: \"1\"}\n"
                + "            - {name: TRANSFORMERS_OFFLINE, value: \"1\"}\n"
                + "            - {name: VLLM_NO_USAGE_STATS, value: \"1\"}\n");
    manifest =
        edit(
            manifest,
            "          volumeMounts:\n",
            "          volumeMounts:\n"
                + "            - {name: vllm, mountPath: "
                + venv
                + ", readOnly: true}\n"
                + "            - {name: python, mountPath: "
                + python
                + ", readOnly: true}\n");
    return edit(
        manifest,
        "      volumes:\n",
        "      volumes:\n"
            + "        - {name: vllm, hostPath: {path: "
            + venv
            + ", type: Directory}}\n"
            + "        - {name: python, hostPath: {path: "
            + python
            + ", type: Directory}}\n");
  }

  @BeforeAll
  static void start() throws Exception {
    local = new LocalMode("vllm");
    trained = false;
  }

  @AfterAll
  static void stop() throws Exception {
    local.close();
  }

  @Test
  void versionsRollOutOnVllmAndBadOnesNeverServe() throws Exception {
    trainThreeVersions();
    train("bot-4", "0.01", 32); // above the example's --max-lora-rank 16
    await()
        .ignoreExceptions()
        .atMost(Duration.ofMinutes(4))
        .pollInterval(Duration.ofSeconds(2))
        .until(() -> adapter().getStatus().getVersions().size() == 4);
    assertThat(version(4).getRank()).isEqualTo(32);

    // The example as a user applies it, serving "bot" pinned to version 1.
    local.kubectl(
        "create", "secret", "generic", "vllm-api-key", "--from-literal=api-key=" + API_KEY);
    String serving = Files.readString(LocalMode.REPO.resolve("examples/quickstart-vllm.yaml"));
    serving = edit(serving, "name: quickstart\n", "name: " + ADAPTER + "\n");
    serving = edit(serving, "version: latest", "version: 1");
    serving = edit(serving, "steps: [1, 100%]", "steps: [1, 100%]\n      pauseSeconds: 5");
    apply(onThisNode(serving));
    awaitServing(1, Duration.ofMinutes(6));
    Map<String, String> ips = podIps();
    assertThat(ips).hasSize(2);
    for (String ip : ips.values()) {
      assertThat(models(ip)).containsEntry("bot-v1", path(1)).containsEntry("bot", path(1));
      assertThat(complete(ip, "bot").at("/choices/0/text").asText()).isNotEmpty();
      assertThat(
              HTTP.send(
                      HttpRequest.newBuilder(URI.create("http://" + ip + ":8000/v1/models"))
                          .build(),
                      HttpResponse.BodyHandlers.ofString())
                  .statusCode())
          .as("vLLM wants its key")
          .isEqualTo(401);
    }

    // v2: one pod first (the canary), then both; v1 retired.
    pinAndSeeTheCanary(2, 1);
    awaitServing(2, Duration.ofMinutes(2));
    Map<String, String> before = new HashMap<>();
    for (String ip : podIps().values()) {
      assertThat(models(ip)).containsEntry("bot", path(2)).doesNotContainKey("bot-v1");
      before.put(ip + " " + BASE, complete(ip, BASE).at("/choices/0/text").asText());
      before.put(ip + " bot-v2", complete(ip, "bot-v2").at("/choices/0/text").asText());
    }

    // v3 with NaN weights: vLLM loads it and answers 200 without logprobs; the probe gate asks
    // for them and reads the answer, so the version never gets past the canary.
    poison(local.local(version(3).getArtifactUri()).resolve("adapter_model.safetensors"));
    pinAndSeeItRolledBack(3, 2, "non-finite");
    for (String ip : podIps().values()) {
      assertThat(models(ip)).containsEntry("bot", path(2)).doesNotContainKey("bot-v3");
      assertThat(complete(ip, BASE).at("/choices/0/text").asText())
          .as("the base model on " + ip + " after the rollback")
          .isEqualTo(before.get(ip + " " + BASE));
      assertThat(complete(ip, "bot-v2").at("/choices/0/text").asText())
          .as("version 2 on " + ip + " after the rollback")
          .isEqualTo(before.get(ip + " bot-v2"));
    }

    // v4 has rank 32, the servers take 16: refused before any load call, named in Degraded.
    pin(4);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () -> {
              LoraAdapter a = adapter();
              assertThat(a.getStatus().getRollout().getVersion()).isEqualTo(4);
              assertThat(a.getStatus().getRollout().getReason())
                  .isEqualTo(RolloutStatus.INCOMPATIBLE_ADAPTER);
              assertThat(a.getStatus().getServingVersion()).isEqualTo(2);
              var degraded =
                  a.getStatus().getConditions().stream()
                      .filter(c -> c.getType().equals("Degraded"))
                      .findFirst()
                      .orElseThrow();
              assertThat(degraded.getStatus()).isEqualTo("True");
              assertThat(degraded.getReason()).isEqualTo("IncompatibleAdapter");
              assertThat(degraded.getMessage())
                  .contains("has rank 32, above the server's --max-lora-rank 16");
            });
    for (var pod : podIps().entrySet()) {
      assertThat(models(pod.getValue())).containsEntry("bot", path(2)).doesNotContainKey("bot-v4");
      assertThat(loads(pod.getKey(), "bot-v4")).as("loads of bot-v4").isZero();
    }
    pin(2);
    awaitServing(2, Duration.ofMinutes(1));

    // A killed vLLM pod: its replacement starts (half a minute) and is given the serving version.
    killAPodAndSeeItsReplacementServe(2, Duration.ofMinutes(4));
    revertWithTheOperatorKilledMidRollout(1);

    // Deleting the LoraAdapter unloads both names from every server (the operator's finalizer).
    Map<String, String> last = podIps();
    local.kubectl("delete", "loraadapter", ADAPTER, "--wait=true", "--timeout=90s");
    for (String ip : last.values()) {
      assertThat(models(ip)).doesNotContainKeys("bot", "bot-v1", "bot-v2");
    }
  }
}
