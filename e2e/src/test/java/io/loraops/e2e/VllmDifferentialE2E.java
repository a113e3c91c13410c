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
import org.junit.jupiter.api.TestInstance;

/**
 * Real vLLM (its CPU build) and the project's server, side by side on the same model and the same
 * adapters written by the trainer: greedy completions and chat completions must give the same token
 * ids, with log-probabilities within 1e-4, for the base model and adapters on q/v, on all linear
 * layers, and with rsLoRA scaling. Differences between the two servers are bugs unless documented.
 * This class runs the tiny LLaMA the demo trains (its chat template is the house one); {@link
 * VllmDifferentialQwen3E2E} runs the same checks on a Qwen3-shaped model with the real Qwen3
 * tokenizer and chat template.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VllmDifferentialE2E {
  static final List<String> PROMPTS =
      List.of("one two three four", "the cat and the dog", "hello , what is the answer ?");

  /**
   * Conversations for the chat check: a system prompt, several turns, an empty message, non-ASCII
   * text, a reasoning block in the history (which Qwen3's template drops from earlier turns), and
   * template variables from the request: Qwen3's {@code enable_thinking} through {@code
   * chat_template_kwargs}, and {@code tools} (with {@code tool_choice: none}, which vLLM needs
   * without a tool parser and still renders the tools).
   */
  static final List<Chat> CHATS =
      List.of(
          new Chat(List.of(msg("user", "What color is the sky?")), Map.of()),
          new Chat(
              List.of(
                  msg("system", "You are a terse assistant."),
                  msg("user", "Hi"),
                  msg("assistant", "Hello!"),
                  msg("user", "what is the answer ?")),
              Map.of()),
          new Chat(
              List.of(msg("user", ""), msg("assistant", ""), msg("user", "Grüße, 你好 😀 naïve")),
              Map.of()),
          new Chat(
              List.of(
                  msg("user", "Think first."),
                  msg("assistant", "<think>\nTwo and two.\n</think>\n\nFour."),
                  msg("user", "And three?")),
              Map.of()),
          new Chat(
              List.of(msg("user", "What color is the sky?")),
              Map.of("chat_template_kwargs", Map.of("enable_thinking", false))),
          new Chat(
              List.of(msg("user", "Weather in Paris?")),
              Map.of(
                  "tools",
                  List.of(
                      Map.of(
                          "type",
                          "function",
                          "function",
                          Map.of(
                              "name",
                              "get_weather",
                              "parameters",
                              Map.of(
                                  "type",
                                  "object",
                                  "properties",
                                  Map.of("city", Map.of("type", "string")))))),
                  "tool_choice",
                  "none")));

  /** A conversation and the request's other fields. */
  record Chat(List<Map<String, String>> messages, Map<String, Object> extra) {}

  static final int TOKENS = 8;
  static final double LOGPROB_TOLERANCE = 1e-4;

  Path work;
  InferenceProcess vllm;
  InferenceProcess ours;
  String model;

  /** Served name -> adapter folder (null: the base model). */
  final Map<String, Path> models = new LinkedHashMap<>();

  /**
   * The served model's name; its folder of that name under {@link #work} is made by {@link
   * #createModel}.
   */
  String modelName() {
    return "tiny-llama-h32"; // head size 32: vLLM's CPU kernels need >= 32
  }

  /** Writes the base model into {@code dir}. */
  void createModel(Path dir) throws Exception {
    trainer("gen-model", modelName(), dir.toString(), "7");
  }

  @BeforeAll
  void start() throws Exception {
    model = modelName();
    work = Path.of("target", "vllm-differential", model).toAbsolutePath();
    Files.createDirectories(work);
    Path model = work.resolve(this.model);
    createModel(model);
    models.put(this.model, null);
    adapter(model, "qv-r8", "8", "q_proj,v_proj", "random");
    adapter(model, "all-linear-r16", "16", "all-linear", "random");
    adapter(model, "rslora-r32", "32", "q_proj,k_proj,v_proj,o_proj", "random_rslora");
    // Both start at once: vLLM takes about half a minute, ours a few seconds.
    // The model's tokenizer_config.json carries its chat template: vLLM renders chats with it
    // as our server does.
    // Room for Qwen3's tool prompt (about 150 tokens); within both tiny models' 256 or more.
    vllm = InferenceProcess.vllm(model, work, "--max-model-len", "256");
    ours = InferenceProcess.ours(model, work);
    vllm.awaitReady(Duration.ofMinutes(4));
    ours.awaitReady(Duration.ofMinutes(1));
    for (var entry : models.entrySet()) {
      if (entry.getValue() != null) {
        vllm.load(entry.getKey(), entry.getValue());
        ours.load(entry.getKey(), entry.getValue());
      }
    }
  }

  @AfterAll
  void stop() throws Exception {
    for (InferenceProcess p : new InferenceProcess[] {vllm, ours}) {
      if (p != null) {
        p.close();
      }
    }
  }

  private void adapter(Path model, String name, String rank, String targets, String kind)
      throws Exception {
    Path dir = work.resolve(name);
    trainer("gen-adapter", model.toString(), dir.toString(), rank, targets, "11", kind);
    models.put(name, dir);
  }

  void trainer(String... args) throws IOException, InterruptedException {
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

  static Map<String, String> msg(String role, String content) {
    return Map.of("role", role, "content", content);
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

  /** A greedy chat answer: the prompt's token count (how the template rendered) and the answer. */
  record GreedyChat(int promptTokens, Greedy answer) {}

  static GreedyChat greedyChat(InferenceProcess server, String model, Chat chat) throws Exception {
    Map<String, Object> body = new LinkedHashMap<>(chat.extra());
    body.put("model", model);
    body.put("messages", chat.messages());
    body.put("max_tokens", TOKENS);
    body.put("temperature", 0);
    body.put("logprobs", true);
    body.put("return_tokens_as_token_ids", true);
    JsonNode r = server.json(server.post("/v1/chat/completions", body));
    List<String> tokens = new ArrayList<>();
    List<Double> logprobs = new ArrayList<>();
    r.at("/choices/0/logprobs/content")
        .forEach(
            t -> {
              tokens.add(t.get("token").asText());
              logprobs.add(t.get("logprob").asDouble());
            });
    return new GreedyChat(r.at("/usage/prompt_tokens").asInt(), new Greedy(tokens, logprobs));
  }

  /** The official {@code openai} client (from vLLM's environment) against a server. */
  JsonNode openAiClient(InferenceProcess server) throws Exception {
    Path script = Path.of("src/test/resources/openai_client_check.py").toAbsolutePath();
    Process p =
        new ProcessBuilder(
                LocalMode.REPO.resolve(".tools/vllm/bin/python").toString(),
                script.toString(),
                "http://127.0.0.1:" + server.port,
                model,
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
      assertThat(r.get("models").toString()).as(who + "models").contains(model, "qv-r8");
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
    for (String model : models.keySet()) {
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
    for (int m = 1; m < models.size(); m++) {
      for (int p = 0; p < PROMPTS.size(); p++) {
        assertThat(outputs.get(m * PROMPTS.size() + p))
            .as(List.copyOf(models.keySet()).get(m) + " differs from the base model")
            .isNotEqualTo(outputs.get(p));
      }
    }
  }

  /**
   * {@code lora-trainer export-merged} of the all-linear adapter, served by a second vLLM with LoRA
   * disabled as a plain base model: the same greedy token ids as that adapter on vLLM and on our
   * server, log-probabilities within 1e-4 (merged weights differ from the unmerged path only by
   * float32 rounding).
   */
  @Test
  void theMergedExportServedByVllmWithLoraOffAnswersAsTheAdapter() throws Exception {
    String adapter = "all-linear-r16";
    Path merged = work.resolve("merged").resolve(model + "-" + adapter + "-merged");
    if (Files.exists(merged)) { // an earlier run's export, of other weights perhaps
      try (var files = Files.walk(merged)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    trainer(
        "export-merged",
        "--base-model",
        work.resolve(model).toString(),
        "--adapter",
        models.get(adapter).toString(),
        "--out",
        merged.toString(),
        "--max-shard-size",
        "100KB"); // sharded, with an index, as a real checkpoint
    assertThat(merged.resolve("model.safetensors.index.json")).exists();
    try (InferenceProcess plain = InferenceProcess.vllmWithoutLora(merged, merged.getParent())) {
      plain.awaitReady(Duration.ofMinutes(4));
      String name = InferenceProcess.servedName(merged);
      for (String prompt : PROMPTS) {
        Greedy reference = greedy(vllm, adapter, prompt);
        String what = name + " on '" + prompt + "'";
        for (Greedy other : List.of(greedy(plain, name, prompt), greedy(ours, adapter, prompt))) {
          assertThat(other.tokens()).as(what + ": token ids").isEqualTo(reference.tokens());
          for (int i = 0; i < TOKENS; i++) {
            assertThat(other.logprobs().get(i))
                .as(what + ": log-probability of token " + i)
                .isCloseTo(reference.logprobs().get(i), within(LOGPROB_TOLERANCE));
          }
        }
      }
    }
  }

  @Test
  void chatCompletionsWithTheModelsOwnTemplateAgree() throws Exception {
    double worst = 0;
    for (String model : models.keySet()) {
      for (Chat chat : CHATS) {
        GreedyChat reference = greedyChat(vllm, model, chat);
        GreedyChat served = greedyChat(ours, model, chat);
        String what = model + " on " + chat;
        // Equal prompt token counts: both rendered the template to the same tokens' length.
        assertThat(served.promptTokens())
            .as(what + ": prompt tokens")
            .isEqualTo(reference.promptTokens());
        assertThat(served.answer().tokens())
            .as(what + ": token ids")
            .isEqualTo(reference.answer().tokens())
            .isNotEmpty();
        for (int i = 0; i < reference.answer().logprobs().size(); i++) {
          double r = reference.answer().logprobs().get(i);
          assertThat(served.answer().logprobs().get(i))
              .as(what + ": log-probability of token " + i)
              .isCloseTo(r, within(LOGPROB_TOLERANCE));
          worst = Math.max(worst, Math.abs(served.answer().logprobs().get(i) - r));
        }
      }
    }
    System.out.printf("%s: chat log-probabilities within %.1e of vLLM's%n", model, worst);
  }
}
