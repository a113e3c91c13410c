package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.it.RolloutAssertions;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Rollout with real parts: three versions trained by the real trainer, two replicas of the
 * project's inference server run by the node agent, and the packaged operator hot-loading versions
 * into them: pin v1, canary v2, a corrupted v3 rolled back, a killed pod replaced, and an operator
 * killed mid-rollout; then the restart loader, rolling pods whose server command takes the version
 * from the env the operator writes into the pod template.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ServingE2E {
  static final String ADAPTER = "bot";
  static final String DEPLOYMENT = "quickstart-server";
  static final String RESTART_DEPLOYMENT = "restart-server";

  /** The restart-server's API key; servers started without one ignore the header. */
  static final String API_KEY = "e2e-key";

  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1) // as vLLM's clients: no h2c upgrade
          .connectTimeout(Duration.ofSeconds(2))
          .build();

  static LocalMode local;
  static boolean trained;

  @BeforeAll
  static void start() throws Exception {
    local = new LocalMode("serve");
  }

  @AfterAll
  static void stop() throws Exception {
    local.close();
  }

  /** Three versions, each from a one-trial LoraJob (they differ in learning rate). */
  private void trainThreeVersions() throws Exception {
    if (trained) {
      return;
    }
    for (int n = 1; n <= 3; n++) {
      train("bot-" + n, n == 1 ? "0.003" : n == 2 ? "0.01" : "0.02");
    }
    await()
        .ignoreExceptions()
        .atMost(Duration.ofMinutes(8))
        .pollInterval(Duration.ofSeconds(2))
        .until(
            () ->
                adapter() != null
                    && adapter().getStatus() != null
                    && adapter().getStatus().getVersions().size() == 3);
    trained = true;
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
      assertThat(complete(ip, "tiny-gpt2").path("choices")).hasSize(1);
    }

    // v2 pinned: one pod first (the canary), then both; v1 retired.
    pin(2);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(300))
        .untilAsserted(
            () -> {
              LoraAdapter a = adapter();
              assertThat(a.getStatus().getRollout().getPhase())
                  .isEqualTo(RolloutStatus.PROGRESSING);
              assertThat(a.getStatus().getTargets().get(0).getPodsUpdated()).isEqualTo(1);
              assertThat(aliasPaths()).containsExactlyInAnyOrder(path(1), path(2));
            });
    awaitServing(2, Duration.ofMinutes(2));
    for (String ip : podIps().values()) {
      assertThat(models(ip)).containsEntry("bot", path(2)).doesNotContainKey("bot-v1");
    }

    // v3 with corrupted (NaN) weights: it loads, its probe fails, every pod goes back to v2.
    poison(local.local(version(3).getArtifactUri()).resolve("adapter_model.safetensors"));
    pin(3);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(90))
        .untilAsserted(
            () ->
                assertThat(RolloutAssertions.assertRolledBack(adapter(), 2))
                    .contains("non-finite logits"));
    for (String ip : podIps().values()) {
      assertThat(models(ip)).containsEntry("bot", path(2)).doesNotContainKey("bot-v3");
    }

    // A killed serving pod: its replacement is given the serving version.
    String victim = podIps().keySet().iterator().next();
    local.kubectl("delete", "pod", victim, "--wait=false");
    await()
        .ignoreExceptions()
        .atMost(Duration.ofMinutes(2))
        .pollInterval(Duration.ofSeconds(1))
        .untilAsserted(
            () -> {
              Map<String, String> now = podIps();
              assertThat(now).hasSize(2).doesNotContainKey(victim);
              for (String ip : now.values()) {
                assertThat(models(ip)).containsEntry("bot", path(2));
              }
            });

    // GitOps revert to v1, with the operator killed after the canary step: it finishes the
    // rollout when it comes back, and no pod loads anything twice.
    Map<String, Integer> loadsBefore = new HashMap<>();
    for (String pod : podIps().keySet()) {
      loadsBefore.put(pod, loads(pod, "bot-v1"));
    }
    pin(1);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(300))
        .until(
            () -> {
              RolloutStatus r = adapter().getStatus().getRollout();
              return r.getVersion() == 1 && r.getStep() == 0 && r.getStepPassedAt() != null;
            });
    local.killOperator();
    local.startOperator();
    awaitServing(1, Duration.ofMinutes(2));
    for (var pod : podIps().entrySet()) {
      assertThat(models(pod.getValue())).containsEntry("bot", path(1));
      assertThat(loads(pod.getKey(), "bot-v1") - loadsBefore.get(pod.getKey()))
          .as("loads of bot-v1 on " + pod.getKey() + " during the revert")
          .isEqualTo(1);
    }
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
      assertThat(models(ip).values()).allSatisfy(root -> assertThat(root).endsWith(inClaim(2)));
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
      assertThat(models(ip).values()).allSatisfy(root -> assertThat(root).endsWith(inClaim(1)));
    }
  }

  private void train(String name, String learningRate) throws Exception {
    String job = Files.readString(LocalMode.REPO.resolve("examples/quickstart.yaml"));
    job = edit(job, "name: quickstart", "name: " + name);
    job = edit(job, "adapter: quickstart", "adapter: " + ADAPTER);
    job = edit(job, "rank: [4, 8, 16, 32]", "rank: [8]");
    job = edit(job, "maxSteps: 40", "maxSteps: 12");
    job = edit(job, "learningRate: 0.003", "learningRate: " + learningRate);
    apply(job);
  }

  private static String edit(String manifest, String find, String replace) {
    assertThat(manifest).as("the example still has " + find).contains(find);
    return manifest.replace(find, replace);
  }

  private void apply(String manifest) throws Exception {
    Path file = Files.createTempFile("serving", ".yaml");
    Files.writeString(file, manifest);
    local.kubectl("apply", "-f", file.toString());
  }

  private void awaitServing(int version, Duration timeout) {
    await()
        .ignoreExceptions()
        .atMost(timeout)
        .pollInterval(Duration.ofSeconds(1))
        .untilAsserted(
            () -> {
              LoraAdapter a = adapter();
              RolloutAssertions.assertServing(a, version);
              assertThat(a.getStatus().getTargets().get(0).getPodsUpdated()).isEqualTo(2);
            });
  }

  private void pin(int version) {
    local
        .client
        .resources(LoraAdapter.class)
        .inNamespace(local.namespace)
        .withName(ADAPTER)
        .edit(
            a -> {
              a.getSpec().setVersion(new IntOrString(version));
              return a;
            });
  }

  private LoraAdapter adapter() {
    return local
        .client
        .resources(LoraAdapter.class)
        .inNamespace(local.namespace)
        .withName(ADAPTER)
        .get();
  }

  private AdapterVersion version(int n) {
    return adapter().getStatus().getVersions().stream()
        .filter(v -> v.getVersion() == n)
        .findFirst()
        .orElseThrow();
  }

  /**
   * A version's path inside the claim. The node agent maps in-pod paths in a pod's env to local
   * folders, so a server started with {@code --lora-modules} from that env reports the local path.
   */
  private String inClaim(int n) {
    return version(n).getArtifactUri().substring("pvc://adapters".length());
  }

  /** The path a version has inside the server pods, which mount claim "adapters" at /adapters. */
  private String path(int n) {
    return "/adapters/" + version(n).getArtifactUri().substring("pvc://adapters/".length());
  }

  /** Ready server pods of the hotLoad Deployment: name -> IP. */
  private Map<String, String> podIps() {
    return podIps(DEPLOYMENT);
  }

  /** Ready server pods of {@code deployment}: name -> IP. */
  private Map<String, String> podIps(String deployment) {
    Map<String, String> ips = new LinkedHashMap<>();
    for (Pod pod :
        local
            .client
            .pods()
            .inNamespace(local.namespace)
            .withLabel("app", deployment)
            .list()
            .getItems()) {
      boolean ready =
          pod.getMetadata().getDeletionTimestamp() == null
              && pod.getStatus() != null
              && pod.getStatus().getConditions() != null
              && pod.getStatus().getConditions().stream()
                  .anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True"));
      if (ready) {
        ips.put(pod.getMetadata().getName(), pod.getStatus().getPodIP());
      }
    }
    return ips;
  }

  private List<String> aliasPaths() throws Exception {
    return podIps().values().stream()
        .map(
            ip -> {
              try {
                return models(ip).get("bot");
              } catch (Exception e) {
                throw new AssertionError(e);
              }
            })
        .toList();
  }

  /** The server's adapters: name -> path. */
  private static Map<String, String> models(String ip) throws Exception {
    JsonNode body =
        JSON.readTree(
            HTTP.send(
                    HttpRequest.newBuilder(URI.create("http://" + ip + ":8000/v1/models"))
                        .header("Authorization", "Bearer " + API_KEY)
                        .build(),
                    HttpResponse.BodyHandlers.ofString())
                .body());
    Map<String, String> adapters = new LinkedHashMap<>();
    for (JsonNode m : body.path("data")) {
      if (m.path("parent").isTextual()) {
        adapters.put(m.path("id").asText(), m.path("root").asText());
      }
    }
    return adapters;
  }

  private static JsonNode complete(String ip, String model) throws Exception {
    HttpResponse<String> response =
        HTTP.send(
            HttpRequest.newBuilder(URI.create("http://" + ip + ":8000/v1/completions"))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + API_KEY)
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\""
                            + model
                            + "\",\"prompt\":\"the operator\",\"max_tokens\":6,\"temperature\":0}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    return JSON.readTree(response.body());
  }

  /** How many times the pod's server has loaded {@code name}, from its log. */
  private int loads(String pod, String name) throws Exception {
    Matcher m =
        Pattern.compile("serve: loaded adapter '" + Pattern.quote(name) + "'")
            .matcher(local.kubectl("logs", pod));
    int count = 0;
    while (m.find()) {
      count++;
    }
    return count;
  }

  /** Overwrites every float32 weight in a safetensors file with NaN, keeping its shapes. */
  private static void poison(Path file) throws IOException {
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      byte[] len = new byte[8];
      raf.readFully(len);
      long headerLength = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
      byte[] header = new byte[(int) headerLength];
      raf.readFully(header);
      assertThat(new String(header, StandardCharsets.UTF_8)).contains("F32");
      long start = 8 + headerLength;
      ByteBuffer nan =
          ByteBuffer.allocate((int) (raf.length() - start)).order(ByteOrder.LITTLE_ENDIAN);
      while (nan.remaining() >= 4) {
        nan.putFloat(Float.NaN);
      }
      raf.seek(start);
      raf.write(nan.array());
    }
  }
}
