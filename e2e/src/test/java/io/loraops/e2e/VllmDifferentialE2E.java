package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Real vLLM (its CPU build) and the project's server, side by side on the same model and the same
 * adapters written by the trainer: greedy completions must give the same token ids, with
 * log-probabilities within 1e-4, for the base model and adapters on q/v, on all linear layers, and
 * with rsLoRA scaling. Differences between the two servers are bugs unless documented.
 */
class VllmDifferentialE2E {
  static final String MODEL = "tiny-llama-h32"; // head size 32: vLLM's CPU kernels need >= 32
  static final List<String> PROMPTS =
      List.of("one two three four", "the cat and the dog", "hello , what is the answer ?");
  static final int TOKENS = 8;
  static final double LOGPROB_TOLERANCE = 1e-4;

  static Path work;
  static InferenceProcess vllm;
  static InferenceProcess ours;

  /** Served name -> adapter folder (null: the base model). */
  static final Map<String, Path> MODELS = new LinkedHashMap<>();

  @BeforeAll
  static void start() throws Exception {
    work = Path.of("target", "vllm-differential").toAbsolutePath();
    Files.createDirectories(work);
    Path model = work.resolve(MODEL);
    trainer("gen-model", MODEL, model.toString(), "7");
    MODELS.put(MODEL, null);
    adapter(model, "qv-r8", "8", "q_proj,v_proj", "random");
    adapter(model, "all-linear-r16", "16", "all-linear", "random");
    adapter(model, "rslora-r32", "32", "q_proj,k_proj,v_proj,o_proj", "random_rslora");
    // Both start at once: vLLM takes about half a minute, ours a few seconds.
    // The tiny model's tokenizer_config.json carries its chat template: vLLM renders chats
    // with it as our server does.
    vllm = InferenceProcess.vllm(model, work);
    ours = InferenceProcess.ours(model, work);
    vllm.awaitReady(Duration.ofMinutes(4));
    ours.awaitReady(Duration.ofMinutes(1));
    for (var entry : MODELS.entrySet()) {
      if (entry.getValue() != null) {
        vllm.load(entry.getKey(), entry.getValue());
        ours.load(entry.getKey(), entry.getValue());
      }
    }
  }

  @AfterAll
  static void stop() throws Exception {
    for (InferenceProcess p : new InferenceProcess[] {vllm, ours}) {
      if (p != null) {
        p.close();
      }
    }
  }

  private static void adapter(Path model, String name, String rank, String targets, String kind)
      throws Exception {
    Path dir = work.resolve(name);
    trainer("gen-adapter", model.toString(), dir.toString(), rank, targets, "11", kind);
    MODELS.put(name, dir);
  }

  private static void trainer(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(LocalMode.REPO.resolve("hack/lora-trainer").toString());
    command.addAll(List.of(args));
    Process p =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(work.resolve("setup.log").toFile()))
            .start();
    assertThat(p.waitFor()).as(String.join(" ", command) + "; see setup.log").isZero();
  }

  /** A greedy completion's token ids and their log-probabilities. */
  record Greedy(List<String> tokens, List<Double> logprobs) {}

  static Greedy greedy(InferenceProcess server, String model, String prompt) throws Exception {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("model", model);
    body.put("prompt", prompt);
    body.put("max_tokens", TOKENS);
    body.put("temperature", 0);
    body.put("logprobs", 1);
    body.put("return_tokens_as_token_ids", true);
    JsonNode lp = server.json(server.post("/v1/completions", body)).at("/choices/0/logprobs");
    List<String> tokens = new ArrayList<>();
    List<Double> logprobs = new ArrayList<>();
    lp.get("tokens").forEach(t -> tokens.add(t.asText()));
    lp.get("token_logprobs").forEach(v -> logprobs.add(v.asDouble()));
    return new Greedy(tokens, logprobs);
  }

  /** The official {@code openai} client (from vLLM's environment) against a server. */
  static JsonNode openAiClient(InferenceProcess server) throws Exception {
    Path script = Path.of("src/test/resources/openai_client_check.py").toAbsolutePath();
    Process p =
        new ProcessBuilder(
                LocalMode.REPO.resolve(".tools/vllm/bin/python").toString(),
                script.toString(),
                "http://127.0.0.1:" + server.port,
                MODEL,
                "qv-r8",
                "unused")
            .redirectError(ProcessBuilder.Redirect.appendTo(work.resolve("openai.log").toFile()))
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(server.name + ": openai client; see openai.log").isZero();
    return InferenceProcess.JSON.readTree(out);
  }

  @Test
  void theOfficialOpenAiClientWorksAgainstBothServersAlike() throws Exception {
    for (InferenceProcess server : List.of(vllm, ours)) {
      JsonNode r = openAiClient(server);
      String who = server.name + ": ";
      assertThat(r.get("models").toString()).as(who + "models").contains(MODEL, "qv-r8");
      assertThat(r.get("completion").asText()).as(who + "completion").isNotBlank();
      assertThat(r.get("completion_tokens").asInt()).as(who + "usage").isEqualTo(8);
      assertThat(r.get("completion_logprobs").asInt()).as(who + "logprobs").isEqualTo(8);
      assertThat(r.get("completion_streamed").asText())
          .as(who + "streamed completion")
          .isEqualTo(r.get("completion").asText());
      assertThat(r.get("completion_streamed_usage").asInt()).as(who + "stream usage").isEqualTo(8);
      assertThat(r.get("completion_streamed_finish").asText()).isEqualTo("length");
      assertThat(r.get("chat_role").asText()).isEqualTo("assistant");
      assertThat(r.get("chat_streamed").asText())
          .as(who + "streamed chat")
          .isEqualTo(r.get("chat").asText());
      assertThat(r.get("chat_logprobs")).as(who + "chat logprobs").isNotEmpty();
      r.get("chat_logprobs").forEach(n -> assertThat(n.asInt()).isEqualTo(2));
      assertThat(r.get("missing_model").asInt()).as(who + "unknown model").isEqualTo(404);
    }
  }

  @Test
  void greedyTokensAndLogprobsAgreeForTheBaseModelAndEveryAdapterKind() throws Exception {
    List<String> outputs = new ArrayList<>();
    for (String model : MODELS.keySet()) {
      for (String prompt : PROMPTS) {
        Greedy reference = greedy(vllm, model, prompt);
        Greedy served = greedy(ours, model, prompt);
        String what = model + " on '" + prompt + "'";
        assertThat(served.tokens()).as(what + ": token ids").isEqualTo(reference.tokens());
        for (int i = 0; i < TOKENS; i++) {
          assertThat(served.logprobs().get(i))
              .as(what + ": log-probability of token " + i)
              .isCloseTo(reference.logprobs().get(i), within(LOGPROB_TOLERANCE));
        }
        outputs.add(String.join(" ", reference.tokens()));
      }
    }
    // Each adapter changes what the model says: the comparison covers the LoRA path itself.
    for (int m = 1; m < MODELS.size(); m++) {
      for (int p = 0; p < PROMPTS.size(); p++) {
        assertThat(outputs.get(m * PROMPTS.size() + p))
            .as(List.copyOf(MODELS.keySet()).get(m) + " differs from the base model")
            .isNotEqualTo(outputs.get(p));
      }
    }
  }
}
