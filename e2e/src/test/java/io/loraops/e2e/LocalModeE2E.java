package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Pod;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.support.Labels;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The whole loop with real parts: kubectl applies the quickstart example, the operator installed by
 * its chart runs trial Jobs, the Job controller makes pods, the scheduler binds them, the kubelet
 * runs the trainer image on a tiny model, and the best adapter is published in PEFT format.
 */
class LocalModeE2E {

  static LocalMode local;

  @BeforeAll
  static void start() throws Exception {
    local = new LocalMode("e2e");
  }

  @AfterAll
  static void stop() throws Exception {
    local.close();
  }

  @Test
  void quickstartSweepPublishesThePeftAdapterOfTheBestTrial() throws Exception {
    local.kubectl("apply", "-f", LocalMode.REPO.resolve("examples/quickstart.yaml").toString());
    LoraJob job = local.awaitComplete("quickstart", Duration.ofMinutes(6));

    assertThat(job.getStatus().getTrials())
        .hasSize(4)
        .extracting(TrialStatus::getPhase)
        .containsOnly("Succeeded");
    TrialStatus best =
        job.getStatus().getTrials().stream()
            .min(Comparator.comparing(t -> t.getMetrics().getEvalLoss()))
            .orElseThrow();
    assertThat(job.getStatus().getBestTrial().getName()).isEqualTo(best.getName());
    assertThat(job.getStatus().getTrials())
        .allSatisfy(
            t -> {
              assertThat(t.getMetrics().getSteps()).isEqualTo(40L);
              assertThat(t.getMetrics().getTrainableParameters()).isPositive();
              assertThat(t.getMetrics().getEvalLoss()).isFinite();
            });

    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () ->
                adapter("quickstart").getStatus() != null
                    && !adapter("quickstart").getStatus().getVersions().isEmpty());
    AdapterVersion v1 = adapter("quickstart").getStatus().getVersions().get(0);
    assertThat(v1.getVersion()).isEqualTo(job.getStatus().getPublishedVersion());
    assertThat(v1.getRank()).isEqualTo(best.getParameters().getRank());
    assertThat(v1.getMetrics()).isEqualTo(best.getMetrics());
    assertThat(v1.getDigest()).matches("sha256:[0-9a-f]{64}").isEqualTo(best.getDigest());
    assertThat(v1.getArtifactUri()).isEqualTo("pvc://adapters/quickstart/v" + v1.getVersion());

    // The publish Job (the trainer image) copied the best trial into v<N>/ with its manifest, and
    // the same files hash to the same digest: sha256 over the adapter files in name order.
    Path dir = local.local(v1.getArtifactUri());
    Path trialDir = local.local(best.getArtifactUri());
    java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
    for (String f : List.of("adapter_config.json", "adapter_model.safetensors")) {
      assertThat(Files.readAllBytes(dir.resolve(f)))
          .isEqualTo(Files.readAllBytes(trialDir.resolve(f)));
      sha.update(Files.readAllBytes(dir.resolve(f)));
    }
    assertThat("sha256:" + java.util.HexFormat.of().formatHex(sha.digest()))
        .isEqualTo(v1.getDigest());
    JsonNode manifest = new ObjectMapper().readTree(dir.resolve("manifest.json").toFile());
    assertThat(manifest.get("version").asInt()).isEqualTo(v1.getVersion());
    assertThat(manifest.get("digest").asText()).isEqualTo(v1.getDigest());
    assertThat(manifest.get("rank").asInt()).isEqualTo(v1.getRank());
    assertThat(manifest.get("baseModel").get("name").asText()).isEqualTo("tiny-llama-h32");
    assertThat(manifest.get("source").get("trial").asText()).isEqualTo(best.getName());
    assertThat(manifest.get("source").get("loraJob").asText()).isEqualTo("quickstart");

    // A sweep over ranks 4..32: the rank analysis compares the best trial with each other rank.
    var ranks = job.getStatus().getRankAnalysis();
    assertThat(ranks.getBestRank()).isEqualTo(best.getParameters().getRank());
    assertThat(ranks.getSummary()).hasSize(3).allMatch(l -> l.matches("rank \\d+ captures .*"));
    assertThat(ranks.getRecommendedRank()).isBetween(4, best.getParameters().getRank());
    JsonNode analysis = new ObjectMapper().readTree(dir.resolve("rank-analysis.json").toFile());
    assertThat(analysis.get("comparisons")).hasSize(3);
    assertThat(Files.readString(dir.resolve("rank-analysis.svg"))).startsWith("<svg");
    assertThat(manifest.get("rankAnalysis").asText()).isEqualTo("rank-analysis.json");

    // The published folder is a PEFT adapter: config plus safetensors with PEFT's key names and
    // shapes lora_A [r, in], lora_B [out, r].
    JsonNode config = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
    assertThat(config.get("peft_type").asText()).isEqualTo("LORA");
    assertThat(config.get("r").asInt()).isEqualTo(v1.getRank());
    assertThat(config.get("lora_alpha").asDouble()).isEqualTo(v1.getAlpha());
    JsonNode header = safetensorsHeader(dir.resolve("adapter_model.safetensors"));
    assertThat(header.get("__metadata__").get("format").asText()).isEqualTo("pt");
    List<String> keys =
        iterate(header.fieldNames()).stream().filter(k -> !k.equals("__metadata__")).toList();
    assertThat(keys)
        .isNotEmpty()
        .allMatch(k -> k.startsWith("base_model.model.") && k.matches(".*lora_[AB]\\.weight"));
    String aKey = keys.stream().filter(k -> k.endsWith("lora_A.weight")).findFirst().orElseThrow();
    assertThat(header.get(aKey).get("shape").get(0).asInt()).isEqualTo(v1.getRank());
    String bKey = aKey.replace("lora_A", "lora_B");
    assertThat(header.get(bKey).get("shape").get(1).asInt()).isEqualTo(v1.getRank());

    // kubectl logs goes through the API server to the kubelet.
    assertThat(local.kubectl("logs", "job/" + best.getJobName())).contains("\"event\":\"done\"");

    String table = local.kubectl("get", "lorajobs,loraadapters");
    assertThat(table)
        .contains("quickstart")
        .contains("Succeeded")
        .contains("4/4")
        .contains("Available");
  }

  /**
   * The demo's chat variant ({@code make demo-qwen3}): a Qwen3-shaped model with the real Qwen3
   * tokenizer and chat template learns from chat data, the sweep publishes a version, and the
   * served adapter answers on /v1/chat/completions (rendered with Qwen3's template) what the data
   * taught it and closes its turn with {@code <|im_end|>}, where the base model runs on.
   */
  @Test
  void qwen3ChatSweepIsPublishedAndServedWithTheModelsOwnTemplate() throws Exception {
    local.addModel("tiny-qwen3-h32", "qwen3", "quickstart-chat.jsonl");
    local.kubectl(
        "apply", "-f", LocalMode.REPO.resolve("examples/quickstart-qwen3.yaml").toString());
    LoraJob job = local.awaitComplete("quickstart-qwen3", Duration.ofMinutes(8));
    assertThat(job.getStatus().getTrials())
        .hasSize(2)
        .extracting(TrialStatus::getPhase)
        .containsOnly("Succeeded");
    assertThat(job.getStatus().getPublishedVersion()).isEqualTo(1);

    String serving = LocalMode.REPO.resolve("examples/quickstart-qwen3-serving.yaml").toString();
    local.kubectl("apply", "-f", serving);
    await()
        .atMost(Duration.ofMinutes(3))
        .pollInterval(Duration.ofSeconds(1))
        .until(
            () -> {
              LoraAdapter a = adapter("quickstart-qwen3");
              return a.getStatus() != null
                  && Integer.valueOf(1).equals(a.getStatus().getServingVersion())
                  && !Conditions.isTrue(a.getStatus().getConditions(), "Progressing");
            });
    String ip =
        local
            .client
            .pods()
            .inNamespace(local.namespace)
            .withLabel("app", "quickstart-qwen3-server")
            .list()
            .getItems()
            .stream()
            .filter(p -> "Running".equals(p.getStatus().getPhase()))
            .map(p -> p.getStatus().getPodIP())
            .findFirst()
            .orElseThrow();
    JsonNode base = chat(ip, "tiny-qwen3-h32");
    JsonNode tuned = chat(ip, "quickstart-qwen3");
    System.out.println("qwen3 chat: base " + base + ", adapter " + tuned);
    assertThat(tuned.path("finish_reason").asText())
        .as("the adapter closes its turn")
        .isEqualTo("stop");
    // The data answers this question "Blue."; Qwen3's template puts an empty reasoning block before
    // the last answer, so the adapter learned to write one too.
    assertThat(tuned.at("/message/content").asText()).isEqualTo("<think>\n\n</think>\n\nBlue.");
    assertThat(base.path("finish_reason").asText())
        .as("the base model runs on")
        .isEqualTo("length");
    // The server's CPU request would otherwise hold node capacity the other tests' sweeps use.
    local.kubectl("delete", "--wait=true", "-f", serving);
  }

  /** A greedy chat answer (choices[0]) of the server at {@code ip} for a question of the data. */
  private static JsonNode chat(String ip, String model) throws Exception {
    String body =
        new ObjectMapper()
            .writeValueAsString(
                Map.of(
                    "model",
                    model,
                    "messages",
                    List.of(Map.of("role", "user", "content", "What color is the sky?")),
                    "max_tokens",
                    16,
                    "temperature",
                    0));
    var response =
        InferenceProcess.HTTP.send(
            HttpRequest.newBuilder(URI.create("http://" + ip + ":8000/v1/chat/completions"))
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).as(model + ": " + response.body()).isEqualTo(200);
    return new ObjectMapper().readTree(response.body()).at("/choices/0");
  }

  @Test
  void trainerKilledMidTrialIsRetriedAndResumesFromItsCheckpoint() throws Exception {
    local.applyQuickstartAs(
        "killed", "maxSteps: 40", "maxSteps: 200", "rank: [4, 8, 16, 32]", "rank: [8]");

    // Wait for the first checkpoint, then SIGKILL the trainer process.
    Pod first =
        await()
            .atMost(Duration.ofMinutes(2))
            .pollInterval(Duration.ofMillis(200))
            .until(
                () ->
                    local
                        .client
                        .pods()
                        .inNamespace(local.namespace)
                        .withLabel(Labels.LORA_JOB, "killed")
                        .list()
                        .getItems()
                        .stream()
                        .filter(
                            p ->
                                p.getStatus() != null && "Running".equals(p.getStatus().getPhase()))
                        .filter(p -> Files.exists(trialDir("killed").resolve("checkpoint")))
                        .findFirst()
                        .orElse(null),
                p -> p != null);
    local.killContainer(first);

    LoraJob job = local.awaitComplete("killed", Duration.ofMinutes(4));
    TrialStatus trial = job.getStatus().getTrials().get(0);
    assertThat(trial.getAttempts()).isEqualTo(2);
    assertThat(trial.getMetrics().getSteps()).isEqualTo(200L);
    List<Pod> pods =
        local
            .client
            .pods()
            .inNamespace(local.namespace)
            .withLabel(Labels.LORA_JOB, "killed")
            .withLabel(Labels.TRIAL)
            .list()
            .getItems();
    assertThat(pods).hasSize(2);
    Pod second =
        pods.stream()
            .filter(p -> !p.getMetadata().getName().equals(first.getMetadata().getName()))
            .findFirst()
            .orElseThrow();
    assertThat(local.podLog(second.getMetadata().getName()))
        .contains("resuming from checkpoint at step");
  }

  @Test
  void operatorKilledMidSweepFinishesWithoutDuplicateJobsOrVersions() throws Exception {
    local.applyQuickstartAs("restarted", "parallelism: 2", "parallelism: 1");

    local.awaitTrialsSucceeded("restarted", 1);
    local.killOperator();

    local.assertPublishedOnceFrom("restarted", 4);
  }

  private Path trialDir(String job) {
    LoraJob j = local.loraJob(job);
    return local.claims.resolve(
        "adapters/"
            + job
            + "/trials/"
            + j.getMetadata().getName()
            + "-"
            + j.getMetadata().getUid().replace("-", "").substring(0, 5)
            + "/t000");
  }

  private LoraAdapter adapter(String name) {
    return local
        .client
        .resources(LoraAdapter.class)
        .inNamespace(local.namespace)
        .withName(name)
        .get();
  }

  private static JsonNode safetensorsHeader(Path file) throws IOException {
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
      byte[] len = new byte[8];
      raf.readFully(len);
      byte[] header = new byte[(int) ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong()];
      raf.readFully(header);
      return new ObjectMapper().readTree(new String(header, StandardCharsets.UTF_8));
    }
  }

  private static <T> List<T> iterate(java.util.Iterator<T> it) {
    List<T> list = new java.util.ArrayList<>();
    it.forEachRemaining(list::add);
    return list;
  }
}
