package io.loraops.operator.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A stand-in for one vLLM server started with {@code --enable-lora}, written from vLLM's documented
 * OpenAI-compatible API rather than from our own server, so the hotLoad loader is shown to work
 * against vLLM's API shape: {@code GET /v1/models} lists the base ({@code parent: null}) and each
 * adapter with {@code root} = its path and {@code parent} = the base; {@code POST
 * /v1/load_lora_adapter} answers 200 with a plain-text success line, 400 when the name is already
 * loaded (unless {@code load_inplace}); {@code POST /v1/unload_lora_adapter} answers 404 for an
 * unknown name; errors are {@code {"error": {"message", "type", "param", "code"}}}. Started with an
 * API key ({@code --api-key}), every {@code /v1} route wants {@code Authorization: Bearer <key>}
 * and answers 401 {@code {"error": "Unauthorized"}} without it.
 *
 * <p>A stand-in, kept on purpose in this tier only: the integration tests run a real API server
 * with no kubelet, so no pod can run vLLM here. The end-to-end tier runs the same rollouts against
 * real vLLM pods (VllmServingE2E) and checks vLLM against our server (VllmDifferentialE2E).
 */
final class VllmStandIn implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  final String base;
  final Map<String, String> adapters = new ConcurrentHashMap<>(); // lora_name -> lora_path

  /** Every successful load request, in order: "name=path". */
  final List<String> loads = new CopyOnWriteArrayList<>();

  /** Adapter paths whose completions fail, as a corrupted adapter's would. */
  final Set<String> brokenPaths;

  /** Whether this vLLM knows {@code load_inplace} (added in 2026); older ones ignore it. */
  final boolean loadInplace;

  /** The key every /v1 request must carry as a bearer token; null: none. */
  final String apiKey;

  /** Requests refused for a missing or wrong API key. */
  final AtomicInteger unauthorized = new AtomicInteger();

  /** Set to play a wedged server: load requests are never answered (until it is closed). */
  volatile boolean hangLoads;

  /** When the first unanswered load request came; null while none has. */
  volatile Instant hungSince;

  private final CountDownLatch closed = new CountDownLatch(1);
  private final HttpServer http;

  VllmStandIn(
      String ip, int port, String base, Set<String> brokenPaths, boolean loadInplace, String apiKey)
      throws IOException {
    this.base = base;
    this.brokenPaths = brokenPaths;
    this.loadInplace = loadInplace;
    this.apiKey = apiKey;
    http = HttpServer.create(new InetSocketAddress(ip, port), 16);
    http.createContext("/v1/models", authorized(this::models));
    http.createContext("/v1/load_lora_adapter", authorized(this::load));
    http.createContext("/v1/unload_lora_adapter", authorized(this::unload));
    http.createContext("/v1/completions", authorized(this::complete));
    http.start();
  }

  private HttpHandler authorized(HttpHandler handler) {
    return ex -> {
      if (apiKey != null
          && !("Bearer " + apiKey).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
        unauthorized.incrementAndGet();
        json(ex, 401, Map.of("error", "Unauthorized"));
        return;
      }
      handler.handle(ex);
    };
  }

  /** Adapters given on the command line ({@code --lora-modules name=path}). */
  VllmStandIn preload(String name, String path) {
    adapters.put(name, path);
    return this;
  }

  private void models(HttpExchange ex) throws IOException {
    List<Map<String, Object>> data = new ArrayList<>();
    data.add(model(base, "/models/" + base, null));
    adapters.forEach((name, path) -> data.add(model(name, path, base)));
    json(ex, 200, Map.of("object", "list", "data", data));
  }

  private static Map<String, Object> model(String id, String root, String parent) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id);
    m.put("object", "model");
    m.put("created", 1_700_000_000);
    m.put("owned_by", "vllm");
    m.put("root", root);
    m.put("parent", parent);
    m.put("max_model_len", 2048);
    return m;
  }

  private void load(HttpExchange ex) throws IOException {
    if (hangLoads) {
      if (hungSince == null) {
        hungSince = Instant.now();
      }
      try {
        closed.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return;
    }
    JsonNode body = JSON.readTree(ex.getRequestBody());
    String name = body.path("lora_name").asText("");
    String path = body.path("lora_path").asText("");
    if (name.isEmpty() || path.isEmpty()) {
      error(ex, 400, "BadRequestError", "Both 'lora_name' and 'lora_path' must be provided.");
      return;
    }
    if (adapters.containsKey(name) && !(loadInplace && body.path("load_inplace").asBoolean())) {
      error(ex, 400, "BadRequestError", "The lora adapter '" + name + "' has already been loaded.");
      return;
    }
    adapters.put(name, path);
    loads.add(name + "=" + path);
    text(ex, 200, "Success: LoRA adapter '" + name + "' added successfully.");
  }

  private void unload(HttpExchange ex) throws IOException {
    String name = JSON.readTree(ex.getRequestBody()).path("lora_name").asText("");
    if (adapters.remove(name) == null) {
      error(ex, 404, "NotFoundError", "The lora adapter '" + name + "' cannot be found.");
      return;
    }
    text(ex, 200, "Success: LoRA adapter '" + name + "' removed successfully.");
  }

  private void complete(HttpExchange ex) throws IOException {
    String model = JSON.readTree(ex.getRequestBody()).path("model").asText("");
    if (!model.equals(base) && !adapters.containsKey(model)) {
      error(ex, 404, "NotFoundError", "The model `" + model + "` does not exist.");
      return;
    }
    if (brokenPaths.contains(adapters.get(model))) {
      error(ex, 500, "InternalServerError", "adapter " + model + " produced non-finite logits");
      return;
    }
    json(
        ex,
        200,
        Map.of(
            "id",
            "cmpl-1",
            "object",
            "text_completion",
            "model",
            model,
            "choices",
            List.of(
                Map.of(
                    "index",
                    0,
                    "text",
                    " ok",
                    "logprobs",
                    Map.of("tokens", List.of(" ok"), "token_logprobs", List.of(-0.5)),
                    "finish_reason",
                    "length")),
            "usage",
            Map.of("prompt_tokens", 1, "completion_tokens", 1, "total_tokens", 2)));
  }

  private static void error(HttpExchange ex, int code, String type, String message)
      throws IOException {
    Map<String, Object> err = new LinkedHashMap<>();
    err.put("message", message);
    err.put("type", type);
    err.put("param", null);
    err.put("code", code);
    json(ex, code, Map.of("error", err));
  }

  private static void json(HttpExchange ex, int code, Object body) throws IOException {
    ex.getResponseHeaders().add("Content-Type", "application/json");
    send(ex, code, JSON.writeValueAsBytes(body));
  }

  private static void text(HttpExchange ex, int code, String body) throws IOException {
    ex.getResponseHeaders().add("Content-Type", "text/plain; charset=utf-8");
    send(ex, code, body.getBytes(StandardCharsets.UTF_8));
  }

  private static void send(HttpExchange ex, int code, byte[] bytes) throws IOException {
    ex.sendResponseHeaders(code, bytes.length);
    ex.getResponseBody().write(bytes);
    ex.close();
  }

  @Override
  public void close() {
    closed.countDown();
    http.stop(0);
  }
}
