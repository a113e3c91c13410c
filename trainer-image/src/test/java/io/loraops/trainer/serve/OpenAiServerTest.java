package io.loraops.trainer.serve;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.trainer.Fixtures;
import io.loraops.trainer.data.TextTokenizer;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.MergedExport;
import io.loraops.trainer.lora.PeftAdapter;
import io.loraops.trainer.lora.RandomAdapter;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.SafeTensors;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code serve} command's HTTP API in process on a tiny LLaMA: vLLM's request and error shapes,
 * unmerged multi-LoRA serving equal to merged weights, atomic in-place reloads, and failed loads
 * that leave everything loaded before alone.
 */
class OpenAiServerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String PROMPT = "one two three four";

  @TempDir static Path adapters;
  private static Path model;
  private static Path gpt2;

  private final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
  private InferenceEngine engine;
  private OpenAiServer server;
  private final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  static void adapters() throws Exception {
    model = Fixtures.model("tiny-llama");
    gpt2 = Fixtures.model("tiny-gpt2");
    String base = "tiny-llama"; // the served name: the model folder's name
    RandomAdapter.write(
        model,
        adapters.resolve("a1"),
        4,
        List.of("q_proj", "v_proj"),
        1,
        base,
        RandomAdapter.Weights.RANDOM);
    RandomAdapter.write(
        model,
        adapters.resolve("a2"),
        8,
        List.of("all-linear"),
        2,
        base,
        RandomAdapter.Weights.RANDOM);
    RandomAdapter.write(
        model, adapters.resolve("nan"), 4, List.of("q_proj"), 3, base, RandomAdapter.Weights.NAN);
    // Another family, declared for this base: passes the name check, fails on layers.
    RandomAdapter.write(
        gpt2,
        adapters.resolve("gpt2"),
        4,
        List.of("c_attn"),
        4,
        base,
        RandomAdapter.Weights.RANDOM);
    RandomAdapter.write(
        model,
        adapters.resolve("other-base"),
        4,
        List.of("q_proj"),
        5,
        "gpt2-xl",
        RandomAdapter.Weights.RANDOM);
    wrongShape(adapters.resolve("a1"), adapters.resolve("wrong-shape"));
  }

  /** a1 with layer 0's q_proj A cut to half its input width. */
  private static void wrongShape(Path from, Path to) throws Exception {
    Files.createDirectories(to);
    Files.copy(from.resolve(PeftAdapter.CONFIG_FILE), to.resolve(PeftAdapter.CONFIG_FILE));
    try (NDManager m = NDManager.newBaseManager()) {
      SafeTensors st = SafeTensors.open(from.resolve(PeftAdapter.WEIGHTS_FILE));
      Map<String, ai.djl.ndarray.NDArray> t = new LinkedHashMap<>();
      for (String key : st.entries().keySet()) {
        t.put(key, st.load(key, m));
      }
      t.put(
          "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
          m.zeros(new Shape(4, 16)));
      SafeTensors.write(to.resolve(PeftAdapter.WEIGHTS_FILE), t, Map.of("format", "pt"));
    }
  }

  @BeforeEach
  void start() throws Exception {
    start(16);
  }

  private void start(int maxLoras) throws Exception {
    start(maxLoras, null);
  }

  private void start(int maxLoras, String apiKey) throws Exception {
    close();
    engine = InferenceEngine.load(model.toString(), "tiny-llama", maxLoras);
    server =
        new OpenAiServer(engine, new PrintStream(logBytes, true, StandardCharsets.UTF_8), apiKey);
    server.start("127.0.0.1", 0);
  }

  @AfterEach
  void close() {
    if (server != null) {
      server.close();
      engine.close();
      server = null;
    }
  }

  private static String pod(String adapter) {
    return adapters.resolve(adapter).toString();
  }

  private HttpResponse<String> send(HttpRequest.Builder r) throws Exception {
    return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> get(String path) throws Exception {
    return send(HttpRequest.newBuilder(URI.create(base() + path)).GET());
  }

  private HttpResponse<String> post(String path, Object body) throws Exception {
    return send(
        HttpRequest.newBuilder(URI.create(base() + path))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))));
  }

  private String base() {
    return "http://127.0.0.1:" + server.port();
  }

  private HttpResponse<String> load(String name, String path, boolean inplace) throws Exception {
    Map<String, Object> b = new LinkedHashMap<>();
    b.put("lora_name", name);
    b.put("lora_path", path);
    b.put("load_inplace", inplace);
    return post("/v1/load_lora_adapter", b);
  }

  private HttpResponse<String> completion(String model, int maxTokens) throws Exception {
    return post(
        "/v1/completions",
        Map.of("model", model, "prompt", PROMPT, "max_tokens", maxTokens, "temperature", 0));
  }

  private String complete(String model) throws Exception {
    return complete(model, 12);
  }

  private String complete(String model, int maxTokens) throws Exception {
    HttpResponse<String> r = completion(model, maxTokens);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body()).at("/choices/0/text").asText();
  }

  private static JsonNode error(HttpResponse<String> r, int status, String type) throws Exception {
    assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
    JsonNode e = JSON.readTree(r.body()).get("error");
    assertThat(e.get("type").asText()).isEqualTo(type);
    assertThat(e.get("param").isNull()).isTrue();
    assertThat(e.get("code").asInt()).isEqualTo(status);
    return e;
  }

  /** Greedy decoding on a fresh model with {@code adapter} merged into W: the reference. */
  private static String greedyMerged(Path adapter, int maxTokens) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM lm = ModelLoader.load(model, m);
      if (adapter != null) {
        PeftAdapter.read(adapter, lm);
        lm.linears().values().forEach(LoraLinear::merge);
      }
      try (TextTokenizer tok = TextTokenizer.load(model, lm.config())) {
        List<Long> ids = new ArrayList<>();
        Arrays.stream(tok.encode(PROMPT)).forEach(i -> ids.add((long) i));
        List<Integer> out = new ArrayList<>();
        for (int step = 0; step < maxTokens; step++) {
          float[] last;
          try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            long[] row = ids.stream().mapToLong(Long::longValue).toArray();
            float[] all = lm.forward(m.create(row, new Shape(1, row.length)), false).toFloatArray();
            int v = lm.config().vocabSize();
            last = Arrays.copyOfRange(all, all.length - v, all.length);
          }
          int next = InferenceEngine.argmax(last);
          if (next == tok.eosId()) {
            break;
          }
          ids.add((long) next);
          out.add(next);
        }
        return tok.decode(out.stream().mapToInt(Integer::intValue).toArray());
      }
    }
  }

  private String log() {
    return logBytes.toString(StandardCharsets.UTF_8);
  }

  @Test
  void streamedCompletionsAddUpToTheUnstreamedOneAndEndWithDone() throws Exception {
    String whole = complete("tiny-llama", 8);
    Map<String, Object> request = new LinkedHashMap<>();
    request.put("model", "tiny-llama");
    request.put("prompt", PROMPT);
    request.put("max_tokens", 8);
    request.put("temperature", 0);
    request.put("stream", true);
    request.put("stream_options", Map.of("include_usage", true));
    HttpResponse<String> r = post("/v1/completions", request);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type"))
        .hasValueSatisfying(t -> assertThat(t).startsWith("text/event-stream"));
    List<String> events =
        Arrays.stream(r.body().split("\n\n")).map(e -> e.replaceFirst("^data: ", "")).toList();
    assertThat(events.get(events.size() - 1)).isEqualTo("[DONE]");
    StringBuilder text = new StringBuilder();
    String finish = null;
    JsonNode usage = null;
    for (String event : events.subList(0, events.size() - 1)) {
      JsonNode chunk = JSON.readTree(event);
      assertThat(chunk.get("object").asText()).isEqualTo("text_completion");
      for (JsonNode choice : chunk.get("choices")) {
        text.append(choice.get("text").asText());
        if (!choice.get("finish_reason").isNull()) {
          finish = choice.get("finish_reason").asText();
        }
      }
      if (chunk.hasNonNull("usage")) {
        usage = chunk.get("usage");
      }
    }
    assertThat(events.size()).as("one event per token, a last one, usage, [DONE]").isGreaterThan(4);
    assertThat(text.toString()).isEqualTo(whole);
    assertThat(finish).isEqualTo("length");
    assertThat(usage.get("completion_tokens").asInt()).isEqualTo(8);

    // Chat: the role first, then the content in pieces.
    Map<String, Object> chat = new LinkedHashMap<>();
    chat.put("model", "tiny-llama");
    chat.put("messages", List.of(Map.of("role", "user", "content", PROMPT)));
    chat.put("max_tokens", 4);
    chat.put("temperature", 0);
    chat.put("stream", true);
    r = post("/v1/chat/completions", chat);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode first = JSON.readTree(r.body().split("\n\n")[0].substring("data: ".length()));
    assertThat(first.get("object").asText()).isEqualTo("chat.completion.chunk");
    assertThat(first.at("/choices/0/delta/role").asText()).isEqualTo("assistant");
    assertThat(r.body()).endsWith("data: [DONE]\n\n");

    // An unknown model is an ordinary 404, not a stream.
    request.put("model", "nope");
    error(post("/v1/completions", request), 404, "NotFoundError");
  }

  @Test
  void logprobsListTheChosenTokensAndTheMostLikelyOnesAsVllmDoes() throws Exception {
    Map<String, Object> request = new LinkedHashMap<>();
    request.put("model", "tiny-llama");
    request.put("prompt", PROMPT);
    request.put("max_tokens", 6);
    request.put("temperature", 0);
    request.put("logprobs", 3);
    request.put("return_tokens_as_token_ids", true);
    HttpResponse<String> r = post("/v1/completions", request);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode lp = JSON.readTree(r.body()).at("/choices/0/logprobs");
    assertThat(lp.get("tokens")).hasSize(6);
    for (int i = 0; i < 6; i++) {
      String token = lp.get("tokens").get(i).asText();
      double logprob = lp.get("token_logprobs").get(i).asDouble();
      JsonNode top = lp.get("top_logprobs").get(i);
      assertThat(token).matches("token_id:\\d+");
      assertThat(logprob).isNegative().isFinite();
      assertThat(top.size()).isEqualTo(3); // greedy: the chosen token is the most likely one
      double best = Double.NEGATIVE_INFINITY;
      for (JsonNode v : top) {
        best = Math.max(best, v.asDouble());
      }
      assertThat(top.get(token).asDouble()).isEqualTo(logprob).isEqualTo(best);
    }
    // Greedy tokens are the same with and without the listing.
    assertThat(JSON.readTree(r.body()).at("/choices/0/text").asText())
        .isEqualTo(complete("tiny-llama", 6));

    Map<String, Object> chat = new LinkedHashMap<>();
    chat.put("model", "tiny-llama");
    chat.put("messages", List.of(Map.of("role", "user", "content", PROMPT)));
    chat.put("max_tokens", 2);
    chat.put("temperature", 0);
    chat.put("logprobs", true);
    chat.put("top_logprobs", 2);
    r = post("/v1/chat/completions", chat);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode content = JSON.readTree(r.body()).at("/choices/0/logprobs/content");
    assertThat(content).hasSize(2);
    assertThat(content.get(0).get("top_logprobs")).hasSize(2);
    assertThat(content.get(0).get("logprob").asDouble())
        .isEqualTo(content.get(0).at("/top_logprobs/0/logprob").asDouble());

    request.put("logprobs", 21);
    error(post("/v1/completions", request), 400, "BadRequestError");
  }

  @Test
  void healthAndReadyAnswer200WithEmptyBody() throws Exception {
    for (String p : List.of("/health", "/ready")) {
      HttpResponse<String> r = get(p);
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEmpty();
    }
    error(post("/health", Map.of()), 405, "MethodNotAllowed");
    error(get("/nope"), 404, "NotFoundError");
  }

  @Test
  void withAnApiKeyEveryV1RouteWantsTheBearerTokenAndProbesStayOpen() throws Exception {
    start(16, "s3cret");
    for (HttpResponse<String> r :
        List.of(
            get("/v1/models"),
            post("/v1/load_lora_adapter", Map.of("lora_name", "a", "lora_path", pod("a1"))),
            post("/v1/completions", Map.of("model", "tiny-llama", "prompt", "hi")))) {
      assertThat(r.statusCode()).isEqualTo(401);
      assertThat(JSON.readTree(r.body()).path("error").asText()).isEqualTo("Unauthorized");
    }
    assertThat(log()).doesNotContain("adapter 'a'"); // refused before anything was loaded
    assertThat(modelsWith("Bearer s3cre").statusCode()).isEqualTo(401);
    HttpResponse<String> right = modelsWith("Bearer s3cret");
    assertThat(right.statusCode()).isEqualTo(200);
    assertThat(JSON.readTree(right.body()).path("data").get(0).path("id").asText())
        .isEqualTo("tiny-llama");
    assertThat(get("/health").statusCode()).isEqualTo(200);
    assertThat(get("/ready").statusCode()).isEqualTo(200);
    assertThat(get("/metrics").statusCode()).isEqualTo(200);
  }

  private HttpResponse<String> modelsWith(String authorization) throws Exception {
    return send(
        HttpRequest.newBuilder(URI.create(base() + "/v1/models"))
            .header("Authorization", authorization)
            .GET());
  }

  @Test
  void modelsListsTheBaseThenAdaptersWithRootAsGivenAndParent() throws Exception {
    JsonNode m = JSON.readTree(get("/v1/models").body());
    assertThat(m.get("object").asText()).isEqualTo("list");
    JsonNode base = m.get("data").get(0);
    assertThat(base.get("id").asText()).isEqualTo("tiny-llama");
    assertThat(base.get("object").asText()).isEqualTo("model");
    assertThat(base.get("owned_by").asText()).isEqualTo("lora-operator");
    assertThat(base.get("root").asText()).isEqualTo(model.toString());
    assertThat(base.get("parent").isNull()).isTrue();
    assertThat(base.get("max_model_len").asInt()).isEqualTo(128);
    assertThat(base.get("created").asLong()).isPositive();

    HttpResponse<String> r = load("a1", pod("a1"), false);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
    assertThat(r.body()).isEqualTo("Success: LoRA adapter 'a1' added successfully.");

    m = JSON.readTree(get("/v1/models").body());
    assertThat(m.get("data")).hasSize(2);
    JsonNode a = m.get("data").get(1);
    assertThat(a.get("id").asText()).isEqualTo("a1");
    assertThat(a.get("object").asText()).isEqualTo("model");
    assertThat(a.get("root").asText()).isEqualTo(pod("a1")); // as given, not the local path
    assertThat(a.get("parent").asText()).isEqualTo("tiny-llama");
    assertThat(log()).contains("serve: loaded adapter 'a1' from " + pod("a1") + " (r=");
  }

  @Test
  void unmergedAdapterCompletionDiffersFromBaseAndEqualsTheMergedModel() throws Exception {
    assertThat(load("a1", pod("a1"), false).statusCode()).isEqualTo(200);
    String base = complete("tiny-llama");
    String adapted = complete("a1");
    assertThat(adapted).isNotEqualTo(base);
    assertThat(base).isEqualTo(greedyMerged(null, 12));
    assertThat(adapted).isEqualTo(greedyMerged(adapters.resolve("a1"), 12));

    HttpResponse<String> r = completion("a1", 12);
    JsonNode c = JSON.readTree(r.body());
    assertThat(c.get("id").asText()).startsWith("cmpl-");
    assertThat(c.get("object").asText()).isEqualTo("text_completion");
    assertThat(c.get("model").asText()).isEqualTo("a1");
    assertThat(c.get("created").asLong()).isPositive();
    JsonNode choice = c.get("choices").get(0);
    assertThat(choice.get("index").asInt()).isZero();
    assertThat(choice.get("logprobs").isNull()).isTrue();
    assertThat(choice.get("finish_reason").asText()).isIn("length", "stop");
    JsonNode u = c.get("usage");
    assertThat(u.get("prompt_tokens").asInt()).isEqualTo(4);
    assertThat(u.get("total_tokens").asInt())
        .isEqualTo(u.get("prompt_tokens").asInt() + u.get("completion_tokens").asInt());
  }

  @Test
  void theMergedExportServedAsABaseWithNoLoraAnswersAsTheAdapterOnItsBase() throws Exception {
    assertThat(load("a2", pod("a2"), false).statusCode()).isEqualTo(200);
    String adapted = complete("a2", 16);
    assertThat(adapted).isNotEqualTo(complete("tiny-llama", 16));
    Path merged = adapters.resolve("a2-merged");
    MergedExport.export(model, adapters.resolve("a2"), merged, 20_000); // sharded

    close();
    engine = InferenceEngine.load(merged.toString(), "a2-merged", 16);
    server =
        new OpenAiServer(engine, new PrintStream(logBytes, true, StandardCharsets.UTF_8), null);
    server.start("127.0.0.1", 0);

    JsonNode models = JSON.readTree(get("/v1/models").body()).get("data");
    assertThat(models).hasSize(1); // a plain base: no adapter loaded
    assertThat(models.get(0).get("id").asText()).isEqualTo("a2-merged");
    assertThat(complete("a2-merged", 16)).isEqualTo(adapted);
  }

  @Test
  void twoAdaptersSideBySideEachAnswerAsAloneAndTheBaseStaysUntouched() throws Exception {
    String base = complete("tiny-llama");
    assertThat(load("a1", pod("a1"), false).statusCode()).isEqualTo(200);
    assertThat(load("a2", pod("a2"), false).statusCode()).isEqualTo(200);
    String a1 = greedyMerged(adapters.resolve("a1"), 12);
    String a2 = greedyMerged(adapters.resolve("a2"), 12);
    assertThat(a1).isNotEqualTo(a2);
    for (int i = 0; i < 2; i++) {
      assertThat(complete("a2")).isEqualTo(a2);
      assertThat(complete("tiny-llama")).isEqualTo(base);
      assertThat(complete("a1")).isEqualTo(a1);
    }
    JsonNode m = JSON.readTree(get("/v1/models").body());
    assertThat(m.get("data").findValuesAsText("id")).containsExactly("tiny-llama", "a1", "a2");
  }

  @Test
  void loadsThatDoNotFitAre400AndLeaveTheLoadedAdapterServing() throws Exception {
    assertThat(load("x", pod("a1"), false).statusCode()).isEqualTo(200);
    String before = complete("x");
    Map<String, String> cases = new LinkedHashMap<>();
    cases.put("gpt2", "adapter_config.json target_modules: 'c_attn' matches no linear layer");
    cases.put(
        "wrong-shape", "model.layers.0.self_attn.q_proj: lora_A must be [r, 32], got (4, 16)");
    cases.put("other-base", "trained on base model 'gpt2-xl'");
    for (Map.Entry<String, String> c : cases.entrySet()) {
      JsonNode e = error(load("x", pod(c.getKey()), true), 400, "BadRequestError");
      assertThat(e.get("message").asText())
          .contains("cannot load adapter 'x'")
          .contains(c.getValue());
      assertThat(complete("x")).as("after " + c.getKey()).isEqualTo(before);
    }
    // A path that does not exist is a 404, as vLLM answers it.
    JsonNode missing = error(load("x", pod("missing"), true), 404, "NotFoundError");
    assertThat(missing.get("message").asText())
        .startsWith("Loading lora x failed: No adapter found for " + pod("missing"));
    assertThat(complete("x")).isEqualTo(before);
    JsonNode m = JSON.readTree(get("/v1/models").body());
    assertThat(m.at("/data/1/root").asText()).isEqualTo(pod("a1"));
    assertThat(log()).contains("serve: failed to load adapter 'x' from " + pod("gpt2"));
  }

  @Test
  void loadingANameTwiceIs400UnlessInplace() throws Exception {
    assertThat(load("x", pod("a1"), false).statusCode()).isEqualTo(200);
    JsonNode e = error(load("x", pod("a2"), false), 400, "BadRequestError");
    assertThat(e.get("message").asText())
        .isEqualTo("The lora adapter 'x' has already been loaded.");
    JsonNode e2 =
        error(post("/v1/load_lora_adapter", Map.of("lora_name", "y")), 400, "BadRequestError");
    assertThat(e2.get("message").asText())
        .isEqualTo("Both 'lora_name' and 'lora_path' must be provided.");
  }

  @Test
  void loadInplaceRepointsTheNameAtomically() throws Exception {
    String old = greedyMerged(adapters.resolve("a1"), 12);
    String next = greedyMerged(adapters.resolve("a2"), 12);
    String oldLong = greedyMerged(adapters.resolve("a1"), 100);
    String nextLong = greedyMerged(adapters.resolve("a2"), 100);
    assertThat(load("alias", pod("a1"), false).statusCode()).isEqualTo(200);
    assertThat(complete("alias")).isEqualTo(old);

    // A long completion in flight finishes on one set of weights, never a mix.
    CompletableFuture<String> inFlight =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return complete("alias", 100);
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            });
    Thread.sleep(30);
    HttpResponse<String> r = load("alias", pod("a2"), true);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("Success: LoRA adapter 'alias' added successfully.");
    assertThat(complete("alias")).isEqualTo(next); // the very next request
    assertThat(inFlight.get()).isIn(oldLong, nextLong);

    JsonNode m = JSON.readTree(get("/v1/models").body());
    assertThat(m.get("data")).hasSize(2);
    assertThat(m.at("/data/1/root").asText()).isEqualTo(pod("a2"));
    assertThat(log()).contains("serve: replaced adapter 'alias' from " + pod("a2"));
  }

  @Test
  void unloadThen404() throws Exception {
    assertThat(load("x", pod("a1"), false).statusCode()).isEqualTo(200);
    HttpResponse<String> r = post("/v1/unload_lora_adapter", Map.of("lora_name", "x"));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("Success: LoRA adapter 'x' removed successfully.");
    assertThat(log()).contains("serve: unloaded adapter 'x'");
    JsonNode e = error(completion("x", 4), 404, "NotFoundError");
    assertThat(e.get("message").asText()).isEqualTo("The model `x` does not exist.");
    e = error(post("/v1/unload_lora_adapter", Map.of("lora_name", "x")), 404, "NotFoundError");
    assertThat(e.get("message").asText()).isEqualTo("The lora adapter 'x' cannot be found.");
    assertThat(JSON.readTree(get("/v1/models").body()).get("data")).hasSize(1);
  }

  @Test
  void nanAdapterLoadsButItsCompletionsAre500() throws Exception {
    assertThat(load("broken", pod("nan"), false).statusCode()).isEqualTo(200);
    JsonNode e = error(completion("broken", 4), 500, "InternalServerError");
    assertThat(e.get("message").asText())
        .contains("non-finite logits")
        .contains("adapter 'broken'");
    assertThat(complete("tiny-llama")).isEqualTo(greedyMerged(null, 12));
  }

  @Test
  void beyondMaxCpuLorasTheLeastRecentlyUsedWeightsLeaveMemoryAndComeBackWhenUsed()
      throws Exception {
    String a1 = greedyMerged(adapters.resolve("a1"), 12);
    String a2 = greedyMerged(adapters.resolve("a2"), 12);
    assertThat(a1).isNotEqualTo(a2);
    start(1);
    assertThat(load("a", pod("a1"), false).statusCode()).isEqualTo(200);
    // as vLLM: a second adapter loads; the first one's weights leave memory, its name stays
    assertThat(load("b", pod("a2"), false).statusCode()).isEqualTo(200);
    JsonNode listed = JSON.readTree(get("/v1/models").body()).get("data");
    assertThat(listed.findValuesAsText("id")).contains("a", "b");
    assertThat(complete("a")).isEqualTo(a1); // read again from its path
    assertThat(complete("b")).isEqualTo(a2);
    assertThat(complete("a")).isEqualTo(a1);
    assertThat(load("a", pod("a2"), true).statusCode()).isEqualTo(200);
    assertThat(complete("a")).isEqualTo(a2);
    assertThat(complete("tiny-llama")).isEqualTo(greedyMerged(null, 12));
  }

  @Test
  void chatCompletionUsesTheTrainersChatFormat() throws Exception {
    assertThat(load("a1", pod("a1"), false).statusCode()).isEqualTo(200);
    ObjectNode b = JSON.createObjectNode();
    b.put("model", "a1");
    b.putArray("messages").addObject().put("role", "user").put("content", "hello");
    b.put("max_tokens", 5);
    b.put("temperature", 0.7);
    b.put("seed", 11);
    HttpResponse<String> r = post("/v1/chat/completions", b);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode c = JSON.readTree(r.body());
    assertThat(c.get("id").asText()).startsWith("chatcmpl-");
    assertThat(c.get("object").asText()).isEqualTo("chat.completion");
    assertThat(c.at("/choices/0/message/role").asText()).isEqualTo("assistant");
    // <|user|>\n hello <|assistant|>\n: "<|", "user", "|>", "hello", "<|", "assistant", "|>"
    assertThat(c.at("/usage/prompt_tokens").asInt()).isEqualTo(7);
    String again =
        JSON.readTree(post("/v1/chat/completions", b).body())
            .at("/choices/0/message/content")
            .asText();
    assertThat(again).isEqualTo(c.at("/choices/0/message/content").asText()); // seeded sampling
  }

  @Test
  void tooLongAndMalformedRequestsAre400() throws Exception {
    JsonNode e =
        error(
            post(
                "/v1/completions",
                Map.of("model", "tiny-llama", "prompt", PROMPT, "max_tokens", 200)),
            400,
            "BadRequestError");
    assertThat(e.get("message").asText()).contains("maximum context length is 128 tokens");
    error(
        send(
            HttpRequest.newBuilder(URI.create(base() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{nope"))),
        400,
        "BadRequestError");
    error(post("/v1/completions", Map.of("model", "tiny-llama")), 400, "BadRequestError");
    // A max_tokens near the int limit is too long, not an overflow.
    assertThat(
            error(
                    post(
                        "/v1/completions",
                        Map.of(
                            "model",
                            "tiny-llama",
                            "prompt",
                            PROMPT,
                            "max_tokens",
                            Integer.MAX_VALUE)),
                    400,
                    "BadRequestError")
                .get("message")
                .asText())
        .contains("maximum context length");
    // A token id beyond int is refused, not truncated to some other token.
    error(
        post("/v1/completions", Map.of("model", "tiny-llama", "prompt", List.of(1, 4294967297L))),
        400,
        "BadRequestError");
  }

  @Test
  void metricsCountRequestsErrorsAndLoads() throws Exception {
    assertThat(load("a1", pod("a1"), false).statusCode()).isEqualTo(200);
    load("bad", pod("gpt2"), false);
    complete("a1");
    completion("nobody", 2);
    HttpResponse<String> r = get("/metrics");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
    assertThat(r.body())
        .contains("# TYPE lora_serve_requests_total counter")
        .contains("lora_serve_requests_total{model=\"a1\"} 1")
        .contains("lora_serve_requests_total{model=\"tiny-llama\"} 0")
        .contains("lora_serve_request_errors_total{model=\"a1\"} 0")
        .contains("lora_serve_request_errors_total{model=\"_unknown\"} 1")
        .contains("# TYPE lora_serve_request_duration_seconds histogram")
        .contains("lora_serve_request_duration_seconds_bucket{model=\"a1\",le=\"+Inf\"} 1")
        .contains("lora_serve_request_duration_seconds_count{model=\"a1\"} 1")
        .contains("lora_serve_adapter_load_duration_seconds_count{adapter=\"a1\"} 1")
        .contains("lora_serve_adapter_loads_total{result=\"success\"} 1")
        .contains("lora_serve_adapter_loads_total{result=\"failure\"} 1")
        .contains("# TYPE lora_serve_adapters_loaded gauge")
        .contains("lora_serve_adapters_loaded 1");
  }

  @Test
  void baseModelMatchesByServedNameOrFolder() {
    assertThat(PeftAdapter.baseMatches("", "m", "/x/tiny")).isTrue();
    assertThat(PeftAdapter.baseMatches("m", "m", "/x/tiny")).isTrue();
    assertThat(PeftAdapter.baseMatches("tiny", "m", "/x/tiny")).isTrue();
    assertThat(PeftAdapter.baseMatches("/lora/models/tiny", "m", "/x/tiny")).isTrue();
    assertThat(PeftAdapter.baseMatches("other", "m", "/x/tiny")).isFalse();
  }
}
