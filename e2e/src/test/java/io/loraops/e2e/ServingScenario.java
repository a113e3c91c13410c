package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
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

/**
 * What the serving E2E tests share: versions trained by the real trainer from the quickstart
 * example, the LoraAdapter "bot" edited as a user would, and the servers asked over HTTP/1.1 what
 * they serve. One E2E class runs at a time, so the local mode is held in a static field.
 */
abstract class ServingScenario {
  static final String ADAPTER = "bot";

  /** The servers' API key (from a Secret); servers started without one ignore the header. */
  static final String API_KEY = "e2e-key";

  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1) // as vLLM's clients: no h2c upgrade
          .connectTimeout(Duration.ofSeconds(2))
          .build();

  static LocalMode local;
  static boolean trained;

  /** The hotLoad target Deployment. */
  abstract String deployment();

  /** The log line a server writes when it loads {@code name} (not in place). */
  abstract Pattern loadLine(String name);

  /** Three versions, each from a one-trial LoraJob (they differ in learning rate). */
  void trainThreeVersions() throws Exception {
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

  void train(String name, String learningRate) throws Exception {
    train(name, learningRate, 8);
  }

  /** A one-trial LoraJob from the quickstart example, publishing into "bot". */
  void train(String name, String learningRate, int rank) throws Exception {
    String job = Files.readString(LocalMode.REPO.resolve("examples/quickstart.yaml"));
    job = edit(job, "name: quickstart", "name: " + name);
    job = edit(job, "adapter: quickstart", "adapter: " + ADAPTER);
    job = edit(job, "rank: [4, 8, 16, 32]", "rank: [" + rank + "]");
    job = edit(job, "maxSteps: 40", "maxSteps: 12");
    job = edit(job, "learningRate: 0.003", "learningRate: " + learningRate);
    apply(job);
  }

  static String edit(String manifest, String find, String replace) {
    assertThat(manifest).as("the example still has " + find).contains(find);
    return manifest.replace(find, replace);
  }

  void apply(String manifest) throws Exception {
    Path file = Files.createTempFile("serving", ".yaml");
    Files.writeString(file, manifest);
    local.kubectl("apply", "-f", file.toString());
  }

  void awaitServing(int version, Duration timeout) {
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

  /**
   * Pins {@code version} and sees one pod (the canary) serve it while the other keeps {@code from}.
   */
  void pinAndSeeTheCanary(int version, int from) {
    pin(version);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofMinutes(3))
        .pollInterval(Duration.ofMillis(300))
        .untilAsserted(
            () -> {
              LoraAdapter a = adapter();
              assertThat(a.getStatus().getRollout().getPhase())
                  .isEqualTo(RolloutStatus.PROGRESSING);
              assertThat(a.getStatus().getTargets().get(0).getPodsUpdated()).isEqualTo(1);
              assertThat(aliasPaths()).containsExactlyInAnyOrder(path(from), path(version));
            });
  }

  /** Pins {@code version}, whose probe fails, and sees every pod back on {@code serving}. */
  void pinAndSeeItRolledBack(int version, int serving, String because) {
    pin(version);
    await()
        .ignoreExceptions()
        .atMost(Duration.ofMinutes(3))
        .untilAsserted(
            () ->
                assertThat(RolloutAssertions.assertRolledBack(adapter(), serving))
                    .contains(because));
    assertThat(adapter().getStatus().getRollout().getReason()).isEqualTo(RolloutStatus.GATE_FAILED);
  }

  /** Deletes a serving pod and sees its replacement given {@code serving}. */
  void killAPodAndSeeItsReplacementServe(int serving, Duration startUp) throws Exception {
    String victim = podIps().keySet().iterator().next();
    local.kubectl("delete", "pod", victim, "--wait=false");
    await()
        .ignoreExceptions()
        .atMost(startUp)
        .pollInterval(Duration.ofSeconds(1))
        .untilAsserted(
            () -> {
              Map<String, String> now = podIps();
              assertThat(now).hasSize(2).doesNotContainKey(victim);
              for (String ip : now.values()) {
                assertThat(models(ip)).containsEntry(ADAPTER, path(serving));
              }
            });
  }

  /**
   * A GitOps revert to {@code version} with the operator killed after the canary step: it finishes
   * the rollout when it comes back, and no server loads the version twice.
   */
  void revertWithTheOperatorKilledMidRollout(int version) throws Exception {
    String name = ADAPTER + "-v" + version;
    Map<String, Integer> loadsBefore = new HashMap<>();
    for (String pod : podIps().keySet()) {
      loadsBefore.put(pod, loads(pod, name));
    }
    pin(version);
    // Longer than the probe's latency bound (60 s in the vLLM example): a pod that replaced a
    // killed one answers its first probe only after vLLM's CPU build has compiled for it.
    await()
        .ignoreExceptions()
        .atMost(Duration.ofMinutes(3))
        .pollInterval(Duration.ofMillis(300))
        .until(
            () -> {
              // The canary step has passed. The example has no pause between steps, so the second
              // step may pass before a poll sees the first alone (CI saw 200 ms between them when
              // the second pod had the version compiled already): then the kill lands just after
              // the rollout, and the loads below still show nothing was loaded twice.
              RolloutStatus r = adapter().getStatus().getRollout();
              return r.getVersion() == version && r.getStepPassedAt() != null;
            });
    local.killOperator();
    awaitServing(version, Duration.ofMinutes(2));
    for (var pod : podIps().entrySet()) {
      assertThat(models(pod.getValue())).containsEntry(ADAPTER, path(version));
      assertThat(loads(pod.getKey(), name) - loadsBefore.get(pod.getKey()))
          .as("loads of " + name + " on " + pod.getKey() + " during the revert")
          .isEqualTo(1);
    }
  }

  /**
   * Pins {@code version} with a merge patch, as {@code kubectl patch} would: it carries no
   * resourceVersion, so it cannot conflict with the operator's own writes.
   */
  void pin(int version) {
    local
        .client
        .resources(LoraAdapter.class)
        .inNamespace(local.namespace)
        .withName(ADAPTER)
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"version\":" + version + "}}");
  }

  LoraAdapter adapter() {
    return local
        .client
        .resources(LoraAdapter.class)
        .inNamespace(local.namespace)
        .withName(ADAPTER)
        .get();
  }

  AdapterVersion version(int n) {
    return adapter().getStatus().getVersions().stream()
        .filter(v -> v.getVersion() == n)
        .findFirst()
        .orElseThrow();
  }

  /** The path a version has inside the server pods, which mount claim "adapters" at /adapters. */
  String path(int n) {
    return "/adapters/" + version(n).getArtifactUri().substring("pvc://adapters/".length());
  }

  /** Ready server pods of the hotLoad Deployment: name -> IP. */
  Map<String, String> podIps() {
    return podIps(deployment());
  }

  /** Ready server pods of {@code deployment}: name -> IP. */
  Map<String, String> podIps(String deployment) {
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

  List<String> aliasPaths() throws Exception {
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
  static Map<String, String> models(String ip) throws Exception {
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

  static JsonNode complete(String ip, String model) throws Exception {
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
  int loads(String pod, String name) throws Exception {
    Matcher m = loadLine(name).matcher(local.kubectl("logs", pod));
    int count = 0;
    while (m.find()) {
      count++;
    }
    return count;
  }

  /** Overwrites every float32 weight in a safetensors file with NaN, keeping its shapes. */
  static void poison(Path file) throws IOException {
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
