package io.loraops.trainer.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.loraops.trainer.data.ChatFormat;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * The HTTP face of an {@link InferenceEngine}: the OpenAI completions API and vLLM's runtime LoRA
 * API, with request and error bodies shaped as vLLM's, so that the operator can drive either.
 *
 * <pre>
 * GET  /health, /ready             200, empty body (the model is loaded before the port opens)
 * GET  /v1/models                  base model + adapters (root = lora_path as given, parent = base)
 * POST /v1/load_lora_adapter       {"lora_name", "lora_path", "load_inplace"}
 * POST /v1/unload_lora_adapter     {"lora_name"}
 * POST /v1/completions             {"model", "prompt", "max_tokens", "temperature", "seed", "stop",
 *                                   "logprobs" (top-N per token), "return_tokens_as_token_ids"}
 * POST /v1/chat/completions        {"model", "messages", "max_tokens", ..., "logprobs" (boolean),
 *                                   "top_logprobs"}
 * GET  /metrics                    Prometheus text
 * </pre>
 *
 * Errors: {@code {"error": {"message", "type", "param": null, "code": <status>}}}.
 *
 * <p>With an API key (vLLM's {@code --api-key} / {@code VLLM_API_KEY}) every {@code /v1} route
 * wants {@code Authorization: Bearer <key>} and answers 401 {@code {"error": "Unauthorized"}}
 * without it, as vLLM does; health, readiness and metrics stay open for probes and scrapers.
 */
public final class OpenAiServer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String UNKNOWN_MODEL = "_unknown";

  private final InferenceEngine engine;
  private final ServeMetrics metrics;
  private final PrintStream log;
  private final byte[] bearer; // "Bearer <key>", or null when the API is open
  private HttpServer http;
  private ExecutorService pool;

  /** A server whose {@code /v1} routes want {@code apiKey} as a bearer token (null: open). */
  public OpenAiServer(InferenceEngine engine, PrintStream log, String apiKey) {
    this.engine = engine;
    this.log = log;
    this.bearer = apiKey == null ? null : bytes("Bearer " + apiKey);
    this.metrics = new ServeMetrics(engine.servedName(), engine::adapterCount);
  }

  /** Opens {@code host:port} (port 0: any free one) and serves until {@link #close}. */
  public void start(String host, int port) throws IOException {
    // The JDK server writes headers and body separately; with Nagle's algorithm on, the body then
    // waits for the client's delayed ACK (~40 ms per small answer). Read once, when the server
    // configuration class loads, so it has to be set before the first HttpServer is created.
    System.setProperty(
        "sun.net.httpserver.nodelay", System.getProperty("sun.net.httpserver.nodelay", "true"));
    http = HttpServer.create(new InetSocketAddress(host, port), 64);
    AtomicInteger n = new AtomicInteger();
    // Not a fixed pool: completions queue on the engine's lock, and probes and adapter loads must
    // not wait behind them for a free thread.
    pool =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "serve-http-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    http.setExecutor(pool);
    http.createContext("/", this::handle);
    http.start();
  }

  /** The port listened on. */
  public int port() {
    return http.getAddress().getPort();
  }

  @Override
  public void close() {
    if (http != null) {
      http.stop(0);
      pool.shutdownNow();
    }
  }

  /**
   * Loads an adapter, logging one line and counting the result (the load endpoint and {@code
   * --lora-modules} at start).
   */
  public InferenceEngine.LoadResult loadAdapter(String name, String path, boolean inplace) {
    long t0 = System.nanoTime();
    try {
      InferenceEngine.LoadResult l = engine.loadAdapter(name, path, inplace);
      double s = (System.nanoTime() - t0) / 1e9;
      metrics.adapterLoad(name, s, true);
      InferenceEngine.Adapter a = l.adapter();
      log.printf(
          Locale.ROOT,
          "serve: %s adapter '%s' from %s (r=%d, alpha=%s, %d layers) in %.1f ms%n",
          l.replaced() ? "replaced" : "loaded",
          name,
          path,
          a.spec().rank(),
          a.spec().alpha(),
          a.layers(),
          s * 1e3);
      return l;
    } catch (ApiException e) {
      metrics.adapterLoad(name, (System.nanoTime() - t0) / 1e9, false);
      log.println(
          "serve: failed to load adapter '" + name + "' from " + path + ": " + e.getMessage());
      throw e;
    }
  }

  private void handle(HttpExchange ex) {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      if (path.startsWith("/v1") && !authorized(ex)) {
        send(ex, 401, "application/json", bytes("{\"error\":\"Unauthorized\"}"));
        return;
      }
      try {
        switch (path) {
          case "/health", "/ready" -> {
            method(ex, "GET");
            ex.sendResponseHeaders(200, -1);
          }
          case "/v1/models" -> {
            method(ex, "GET");
            send(ex, 200, "application/json", JSON.writeValueAsBytes(models()));
          }
          case "/metrics" -> {
            method(ex, "GET");
            send(ex, 200, ServeMetrics.CONTENT_TYPE, bytes(metrics.render()));
          }
          case "/v1/load_lora_adapter" -> {
            method(ex, "POST");
            JsonNode b = body(ex);
            if (!b.path("lora_name").isTextual() || !b.path("lora_path").isTextual()) {
              throw ApiException.badRequest("Both 'lora_name' and 'lora_path' must be provided.");
            }
            String name = b.get("lora_name").asText();
            loadAdapter(name, b.get("lora_path").asText(), b.path("load_inplace").asBoolean(false));
            send(ex, 200, "text/plain; charset=utf-8", bytes(success(name, "added")));
          }
          case "/v1/unload_lora_adapter" -> {
            method(ex, "POST");
            String name = text(body(ex), "lora_name");
            engine.unloadAdapter(name);
            metrics.adapterUnload();
            log.println("serve: unloaded adapter '" + name + "'");
            send(ex, 200, "text/plain; charset=utf-8", bytes(success(name, "removed")));
          }
          case "/v1/completions" -> {
            method(ex, "POST");
            respond(ex, body(ex), false);
          }
          case "/v1/chat/completions" -> {
            method(ex, "POST");
            respond(ex, body(ex), true);
          }
          default -> throw ApiException.notFound("no route " + path);
        }
      } catch (ApiException e) {
        error(ex, e.status(), e.type(), e.getMessage());
      } catch (RuntimeException e) {
        e.printStackTrace();
        error(ex, 500, "InternalServerError", e.toString());
      }
    } catch (IOException e) {
      // The client went away; nothing to answer.
    }
  }

  private boolean authorized(HttpExchange ex) {
    if (bearer == null) {
      return true;
    }
    String given = ex.getRequestHeaders().getFirst("Authorization");
    // constant time, so the answer's timing does not tell how much of a guess was right
    return given != null && MessageDigest.isEqual(bytes(given), bearer);
  }

  private static String success(String name, String verb) {
    return "Success: LoRA adapter '" + name + "' " + verb + " successfully.";
  }

  private ObjectNode models() {
    ObjectNode root = JSON.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    ObjectNode base = data.addObject();
    base.put("id", engine.servedName());
    base.put("object", "model");
    base.put("created", engine.created());
    base.put("owned_by", "lora-operator");
    base.put("root", engine.modelPath());
    base.putNull("parent");
    base.put("max_model_len", engine.maxModelLen());
    for (InferenceEngine.Adapter a : engine.adapters()) {
      ObjectNode m = data.addObject();
      m.put("id", a.name());
      m.put("object", "model");
      m.put("created", a.created());
      m.put("owned_by", "lora-operator");
      m.put("root", a.path());
      m.put("parent", engine.servedName());
    }
    return root;
  }

  /** Answers a completion or chat request, as one JSON body or, with {@code stream}, as events. */
  private void respond(HttpExchange ex, JsonNode b, boolean chat) throws IOException {
    if (!b.path("stream").asBoolean(false)) {
      send(ex, 200, "application/json", JSON.writeValueAsBytes(completion(b, chat, null)));
      return;
    }
    SseStream events = new SseStream(ex);
    String model = b.hasNonNull("model") ? text(b, "model") : engine.servedName();
    ObjectNode head =
        chat
            ? head("chatcmpl-", "chat.completion.chunk", model)
            : head("cmpl-", "text_completion", model);
    TextDeltas deltas = new TextDeltas(engine::decode, stop(b.get("stop")));
    try {
      ObjectNode done =
          completion(
              b,
              chat,
              step -> {
                if (engine.ends(step.token())) {
                  return; // left out of the text, streamed or not
                }
                String text = deltas.next(step.token());
                if (!text.isEmpty()) {
                  events.send(chunk(head, chat, text, null, !events.started()));
                }
              });
      JsonNode choice = done.path("choices").get(0);
      String text = chat ? choice.at("/message/content").asText() : choice.path("text").asText();
      String finish = choice.path("finish_reason").asText();
      events.send(chunk(head, chat, deltas.rest(text), finish, !events.started()));
      if (b.path("stream_options").path("include_usage").asBoolean(false)) {
        ObjectNode usage = head.deepCopy();
        usage.putArray("choices");
        usage.set("usage", done.get("usage"));
        events.send(usage);
      }
    } catch (ApiException e) {
      if (!events.started()) {
        throw e; // nothing sent yet: an ordinary error response
      }
      ObjectNode error = JSON.createObjectNode();
      ObjectNode body = error.putObject("error");
      body.put("message", e.getMessage());
      body.put("type", e.type());
      body.put("code", e.status());
      events.send(error);
    }
    events.done();
  }

  /** One streamed piece: the text since the last one, and the finish reason with the last. */
  private static ObjectNode chunk(
      ObjectNode head, boolean chat, String text, String finish, boolean first) {
    ObjectNode chunk = head.deepCopy();
    ObjectNode choice = chunk.putArray("choices").addObject();
    choice.put("index", 0);
    if (chat) {
      ObjectNode delta = choice.putObject("delta");
      if (first) {
        delta.put("role", "assistant");
      }
      if (!text.isEmpty() || finish == null) {
        delta.put("content", text);
      }
    } else {
      choice.put("text", text);
    }
    choice.putNull("logprobs");
    if (finish == null) {
      choice.putNull("finish_reason");
    } else {
      choice.put("finish_reason", finish);
    }
    return chunk;
  }

  /** A completion or chat completion, counted and timed per model. */
  private ObjectNode completion(JsonNode b, boolean chat, Consumer<InferenceEngine.Step> onStep) {
    long t0 = System.nanoTime();
    String model = b.hasNonNull("model") ? text(b, "model") : engine.servedName();
    String label = engine.knows(model) ? model : UNKNOWN_MODEL;
    boolean failed = true;
    try {
      ObjectNode out = chat ? chat(b, model, onStep) : complete(b, model, onStep);
      failed = false;
      return out;
    } finally {
      metrics.request(label, (System.nanoTime() - t0) / 1e9, failed);
    }
  }

  private ObjectNode complete(JsonNode b, String model, Consumer<InferenceEngine.Step> onStep) {
    int[] prompt = prompt(b.get("prompt"));
    int maxTokens = integer(b, "max_tokens", 16);
    // OpenAI's completions API: "logprobs" is the number of top tokens to list per position
    boolean logprobs = b.hasNonNull("logprobs");
    InferenceEngine.Completion c =
        generate(b, model, prompt, maxTokens, logprobs ? integer(b, "logprobs", 0) : 0, onStep);
    ObjectNode out = head("cmpl-", "text_completion", model);
    ObjectNode choice = out.putArray("choices").addObject();
    choice.put("index", 0);
    choice.put("text", c.text());
    if (logprobs) {
      completionLogprobs(choice.putObject("logprobs"), c, tokenNamer(b));
    } else {
      choice.putNull("logprobs");
    }
    choice.put("finish_reason", c.finishReason());
    usage(out, c);
    return out;
  }

  /**
   * The chat template's variables besides the messages, as vLLM passes them: the request's {@code
   * tools} (each as vLLM's request model dumps it, see {@link #vllmTool}) and {@code documents},
   * and every entry of {@code chat_template_kwargs} (e.g. {@code {"enable_thinking": false}} for
   * Qwen3).
   */
  static Map<String, Object> templateKwargs(JsonNode b) {
    Map<String, Object> kwargs = new LinkedHashMap<>();
    for (String field : new String[] {"tools", "documents"}) {
      JsonNode v = b.get(field);
      if (v != null && !v.isNull()) {
        if (!v.isArray()) {
          throw ApiException.badRequest(field + " must be an array");
        }
        List<Object> items = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
          items.add(
              field.equals("tools")
                  ? vllmTool(v.get(i), i)
                  : JSON.convertValue(v.get(i), Object.class));
        }
        kwargs.put(field, items);
      }
    }
    JsonNode extra = b.get("chat_template_kwargs");
    if (extra != null && !extra.isNull()) {
      if (!extra.isObject()) {
        throw ApiException.badRequest("chat_template_kwargs must be an object");
      }
      kwargs.putAll(JSON.convertValue(extra, new TypeReference<Map<String, Object>>() {}));
    }
    return kwargs;
  }

  /**
   * A request tool as vLLM renders it (its pydantic model dumped), so a template that prints tools
   * ({@code tojson}) gives the same prompt: {@code type} first, then {@code function} with {@code
   * name}, {@code description} and {@code parameters} in that order, absent ones null, {@code
   * strict} only when given, other fields dropped.
   */
  static Map<String, Object> vllmTool(JsonNode tool, int i) {
    JsonNode f = tool.path("function");
    if (!f.path("name").isTextual()) {
      throw ApiException.badRequest("tools[" + i + "].function.name must be a string");
    }
    if (!tool.path("type").asText("function").equals("function")) {
      throw ApiException.badRequest("tools[" + i + "].type must be 'function'");
    }
    Map<String, Object> function = new LinkedHashMap<>();
    for (String key : new String[] {"name", "description", "parameters"}) {
      function.put(key, JSON.convertValue(f.get(key), Object.class));
    }
    if (f.hasNonNull("strict")) {
      function.put("strict", f.get("strict").asBoolean());
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("type", "function");
    out.put("function", function);
    return out;
  }

  private ObjectNode chat(JsonNode b, String model, Consumer<InferenceEngine.Step> onStep) {
    JsonNode messages = b.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw ApiException.badRequest("messages must be a non-empty array");
    }
    List<ChatFormat.Message> list = new ArrayList<>();
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      String role = m.path("role").asText("");
      if (!ChatFormat.ROLES.contains(role)) {
        throw ApiException.badRequest(
            "messages[" + i + "].role must be one of " + ChatFormat.ROLES + ", got '" + role + "'");
      }
      list.add(new ChatFormat.Message(role, content(m.get("content"), i)));
    }
    int[] prompt = engine.encodeChat(list, templateKwargs(b));
    int fallback = Math.max(1, engine.maxModelLen() - prompt.length);
    int maxTokens = integer(b, "max_completion_tokens", integer(b, "max_tokens", fallback));
    // OpenAI's chat API: "logprobs" is a switch, "top_logprobs" the count
    boolean logprobs = b.path("logprobs").asBoolean(false);
    int top = integer(b, "top_logprobs", 0);
    if (top > 0 && !logprobs) {
      throw ApiException.badRequest("top_logprobs needs logprobs set to true");
    }
    InferenceEngine.Completion c = generate(b, model, prompt, maxTokens, top, onStep);
    ObjectNode out = head("chatcmpl-", "chat.completion", model);
    ObjectNode choice = out.putArray("choices").addObject();
    choice.put("index", 0);
    ObjectNode message = choice.putObject("message");
    message.put("role", "assistant");
    message.put("content", c.text());
    if (logprobs) {
      chatLogprobs(choice.putObject("logprobs").putArray("content"), c, tokenNamer(b));
    } else {
      choice.putNull("logprobs");
    }
    choice.put("finish_reason", c.finishReason());
    usage(out, c);
    return out;
  }

  /**
   * How tokens are named in log-probability listings: their text, or with vLLM's {@code
   * return_tokens_as_token_ids} {@code "token_id:<id>"}, which survives tokens that are not text.
   */
  private IntFunction<String> tokenNamer(JsonNode b) {
    return b.path("return_tokens_as_token_ids").asBoolean(false)
        ? id -> "token_id:" + id
        : engine::tokenText;
  }

  /** The completions API's listing: parallel arrays, as OpenAI's legacy format and vLLM. */
  private static void completionLogprobs(
      ObjectNode out, InferenceEngine.Completion c, IntFunction<String> name) {
    ArrayNode tokens = out.putArray("tokens");
    ArrayNode logprobs = out.putArray("token_logprobs");
    ArrayNode top = out.putArray("top_logprobs");
    ArrayNode offsets = out.putArray("text_offset");
    int offset = 0;
    for (InferenceEngine.Step step : c.steps()) {
      String token = name.apply(step.token());
      tokens.add(token);
      logprobs.add(step.logprob());
      ObjectNode candidates = top.addObject();
      // vLLM lists the chosen token too, beside the top N
      candidates.put(token, step.logprob());
      step.top().forEach(t -> candidates.put(name.apply(t.token()), t.logprob()));
      offsets.add(offset);
      offset += token.length();
    }
  }

  /** The chat API's listing: one object per token. */
  private static void chatLogprobs(
      ArrayNode content, InferenceEngine.Completion c, IntFunction<String> name) {
    for (InferenceEngine.Step step : c.steps()) {
      ObjectNode entry = tokenEntry(content.addObject(), name.apply(step.token()), step.logprob());
      ArrayNode top = entry.putArray("top_logprobs");
      step.top().forEach(t -> tokenEntry(top.addObject(), name.apply(t.token()), t.logprob()));
    }
  }

  private static ObjectNode tokenEntry(ObjectNode entry, String token, double logprob) {
    entry.put("token", token);
    entry.put("logprob", logprob);
    ArrayNode bytes = entry.putArray("bytes");
    for (byte v : bytes(token)) {
      bytes.add(v & 0xff);
    }
    return entry;
  }

  private InferenceEngine.Completion generate(
      JsonNode b,
      String model,
      int[] prompt,
      int maxTokens,
      int topLogprobs,
      Consumer<InferenceEngine.Step> onStep) {
    if (integer(b, "n", 1) != 1) {
      throw ApiException.badRequest("n must be 1");
    }
    double temperature = b.hasNonNull("temperature") ? number(b, "temperature") : 1.0;
    Long seed = null;
    if (b.hasNonNull("seed")) {
      if (!b.get("seed").isIntegralNumber() || !b.get("seed").canConvertToLong()) {
        throw ApiException.badRequest("field 'seed' must be an integer");
      }
      seed = b.get("seed").asLong();
    }
    return engine.complete(
        model, prompt, maxTokens, temperature, seed, stop(b.get("stop")), topLogprobs, onStep);
  }

  private int[] prompt(JsonNode p) {
    if (p != null && p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
      p = p.get(0);
    }
    if (p != null && p.isTextual()) {
      return engine.encode(p.asText());
    }
    if (p != null && p.isArray() && !p.isEmpty() && allIntegers(p)) {
      int[] ids = new int[p.size()];
      int vocab = engine.vocabSize();
      for (int i = 0; i < ids.length; i++) {
        ids[i] = p.get(i).asInt();
        if (ids[i] < 0 || ids[i] >= vocab) {
          throw ApiException.badRequest("prompt token id " + ids[i] + " is out of range");
        }
      }
      return ids;
    }
    throw ApiException.badRequest(
        "prompt must be a string, a list of one string or a list of token ids");
  }

  private static boolean allIntegers(JsonNode a) {
    for (JsonNode n : a) {
      if (!n.isIntegralNumber() || !n.canConvertToInt()) {
        return false;
      }
    }
    return true;
  }

  private static String content(JsonNode c, int i) {
    if (c != null && c.isTextual()) {
      return c.asText();
    }
    if (c != null && c.isArray()) { // [{"type": "text", "text": ...}, ...]
      StringBuilder s = new StringBuilder();
      for (JsonNode part : c) {
        if (!part.path("type").asText().equals("text") || !part.path("text").isTextual()) {
          throw ApiException.badRequest(
              "messages[" + i + "].content: only text parts are supported");
        }
        s.append(part.get("text").asText());
      }
      return s.toString();
    }
    throw ApiException.badRequest("messages[" + i + "].content must be a string");
  }

  private static List<String> stop(JsonNode s) {
    List<String> out = new ArrayList<>();
    if (s == null || s.isNull()) {
      return out;
    }
    if (s.isTextual()) {
      out.add(s.asText());
      return out;
    }
    if (s.isArray()) {
      for (JsonNode n : s) {
        if (!n.isTextual()) {
          throw ApiException.badRequest("stop must be a string or a list of strings");
        }
        out.add(n.asText());
      }
      return out;
    }
    throw ApiException.badRequest("stop must be a string or a list of strings");
  }

  private static ObjectNode head(String idPrefix, String object, String model) {
    ObjectNode out = JSON.createObjectNode();
    out.put("id", idPrefix + UUID.randomUUID().toString().replace("-", ""));
    out.put("object", object);
    out.put("created", System.currentTimeMillis() / 1000);
    out.put("model", model);
    return out;
  }

  private static void usage(ObjectNode out, InferenceEngine.Completion c) {
    ObjectNode u = out.putObject("usage");
    u.put("prompt_tokens", c.promptTokens());
    u.put("completion_tokens", c.completionTokens());
    u.put("total_tokens", c.promptTokens() + c.completionTokens());
  }

  private static void method(HttpExchange ex, String method) {
    if (!ex.getRequestMethod().equalsIgnoreCase(method)) {
      throw new ApiException(
          405,
          "MethodNotAllowed",
          ex.getRequestMethod() + " " + ex.getRequestURI().getPath() + ": use " + method);
    }
  }

  private static JsonNode body(HttpExchange ex) throws IOException {
    byte[] raw = ex.getRequestBody().readAllBytes();
    JsonNode n;
    try {
      n = JSON.readTree(raw);
    } catch (JsonProcessingException e) {
      throw ApiException.badRequest(
          "the request body is not valid JSON: " + e.getOriginalMessage());
    }
    if (n == null || !n.isObject()) {
      throw ApiException.badRequest("the request body must be a JSON object");
    }
    return n;
  }

  private static String text(JsonNode b, String field) {
    JsonNode v = b.get(field);
    if (v == null || v.isNull()) {
      throw ApiException.badRequest("missing field '" + field + "'");
    }
    if (!v.isTextual()) {
      throw ApiException.badRequest("field '" + field + "' must be a string");
    }
    return v.asText();
  }

  private static int integer(JsonNode b, String field, int fallback) {
    JsonNode v = b.get(field);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt()) {
      throw ApiException.badRequest("field '" + field + "' must be an integer");
    }
    return v.asInt();
  }

  private static double number(JsonNode b, String field) {
    JsonNode v = b.get(field);
    if (!v.isNumber()) {
      throw ApiException.badRequest("field '" + field + "' must be a number");
    }
    return v.asDouble();
  }

  private static void error(HttpExchange ex, int status, String type, String message)
      throws IOException {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode e = root.putObject("error");
    e.put("message", message);
    e.put("type", type);
    e.putNull("param");
    e.put("code", status);
    send(ex, status, "application/json", JSON.writeValueAsBytes(root));
  }

  private static void send(HttpExchange ex, int status, String type, byte[] body)
      throws IOException {
    ex.getResponseHeaders().set("Content-Type", type);
    ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    if (body.length > 0) {
      ex.getResponseBody().write(body);
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
