package io.loraops.operator.rollout;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@link InferenceServer} over HTTP/1.1, as vLLM's clients speak it: {@code GET /v1/models},
 * {@code POST /v1/load_lora_adapter}, {@code POST /v1/unload_lora_adapter} and {@code POST
 * /v1/completions}. The project's own server ({@code lora-trainer serve}) speaks the same API.
 */
public class HttpInferenceServer implements InferenceServer {
  // vLLM writes a NaN log-probability as the bare token NaN (Python's json default); it must
  // parse, so that the probe gate can name it rather than fail on the syntax.
  private static final ObjectMapper JSON =
      JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

  private final HttpClient http;
  private final Duration timeout;
  private final String apiKey; // sent as a bearer token; null: none

  public HttpInferenceServer(Duration timeout) {
    this(
        HttpClient.newBuilder()
            // Not the default HTTP/2: on plain http that sends "Upgrade: h2c", and vLLM's server
            // then drops the request body (every POST answers 400 "Field required: body").
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build(),
        timeout,
        null);
  }

  private HttpInferenceServer(HttpClient http, Duration timeout, String apiKey) {
    this.http = http;
    this.timeout = timeout;
    this.apiKey = apiKey;
  }

  @Override
  public InferenceServer withApiKey(String apiKey) {
    return new HttpInferenceServer(http, timeout, apiKey);
  }

  /** How long a model listing may take: it is answered from memory, so a slow one is a hung one. */
  static final Duration LIST_TIMEOUT = Duration.ofSeconds(10);

  @Override
  public Models models(Endpoint server) throws ServerException {
    JsonNode body =
        parse(
            send(
                server,
                HttpRequest.newBuilder(server.uri("/v1/models")).GET().timeout(LIST_TIMEOUT)));
    Map<String, String> adapters = new LinkedHashMap<>();
    String baseId = null;
    String baseRoot = null;
    for (JsonNode model : body.path("data")) {
      if (!model.path("parent").isMissingNode() && !model.path("parent").isNull()) {
        adapters.put(model.path("id").asText(), model.path("root").asText(""));
      } else if (baseId == null) {
        baseId = model.path("id").asText(null);
        baseRoot = model.path("root").asText(baseId);
      }
    }
    return new Models(baseId, baseRoot, adapters);
  }

  @Override
  public void load(Endpoint server, String name, String path, boolean inPlace)
      throws ServerException {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("lora_name", name);
    body.put("lora_path", path);
    if (inPlace) {
      body.put("load_inplace", true);
    }
    try {
      send(server, post(server, "/v1/load_lora_adapter", body));
    } catch (ServerException e) {
      // vLLM before load_inplace (added in 2026) ignores the flag and refuses a loaded name: move
      // the name by unloading and loading it, which leaves it missing for the moment in between.
      if (!inPlace || !e.getMessage().contains("already been loaded")) {
        throw e;
      }
      unload(server, name);
      load(server, name, path, false);
    }
  }

  @Override
  public void unload(Endpoint server, String name) throws ServerException {
    try {
      send(server, post(server, "/v1/unload_lora_adapter", Map.of("lora_name", name)));
    } catch (NotFound e) {
      // gone already: the desired end state
    }
  }

  @Override
  public Answer complete(
      Endpoint server, String model, String prompt, int maxTokens, Duration bound)
      throws ServerException {
    long start = System.nanoTime();
    JsonNode body =
        parse(
            send(
                server,
                post(
                        server,
                        "/v1/completions",
                        Map.of(
                            "model",
                            model,
                            "prompt",
                            prompt,
                            "max_tokens",
                            maxTokens,
                            "temperature",
                            0,
                            "logprobs",
                            1))
                    .timeout(bound.plusSeconds(1))));
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    if (!body.path("choices").isArray() || body.path("choices").isEmpty()) {
      throw new ServerException(server.pod() + ": completion answer has no choices: " + body);
    }
    JsonNode choice = body.path("choices").get(0);
    List<Double> logprobs = new ArrayList<>();
    for (JsonNode value : choice.path("logprobs").path("token_logprobs")) {
      logprobs.add(value.isNumber() ? value.asDouble() : Double.NaN);
    }
    int tokens = body.path("usage").path("completion_tokens").asInt(logprobs.size());
    return new Answer(
        took,
        choice.path("text").asText(""),
        tokens,
        choice.path("finish_reason").asText(""),
        List.copyOf(logprobs));
  }

  private static final class NotFound extends ServerException {
    NotFound(String message) {
      super(message);
    }
  }

  private HttpRequest.Builder post(Endpoint server, String path, Map<String, Object> body)
      throws ServerException {
    try {
      return HttpRequest.newBuilder(server.uri(path))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
    } catch (IOException e) {
      throw new ServerException("cannot encode request: " + e.getMessage());
    }
  }

  private String send(Endpoint server, HttpRequest.Builder request) throws ServerException {
    if (apiKey != null) {
      request.header("Authorization", "Bearer " + apiKey);
    }
    HttpRequest built = request.build();
    if (built.timeout().isEmpty()) {
      built = request.timeout(timeout).build();
    }
    HttpResponse<String> response;
    try {
      response = http.send(built, HttpResponse.BodyHandlers.ofString());
    } catch (HttpConnectTimeoutException e) {
      throw new NoAnswer(
          "pod " + server.pod() + ": " + built.uri().getPath() + " failed: cannot connect");
    } catch (HttpTimeoutException e) {
      throw new NoAnswer(
          "pod "
              + server.pod()
              + ": "
              + built.uri().getPath()
              + " gave no answer within "
              + built.timeout().orElse(timeout).toMillis()
              + " ms");
    } catch (IOException e) {
      throw new ServerException(
          "pod " + server.pod() + ": " + built.uri().getPath() + " failed: " + describe(e));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ServerException("interrupted");
    }
    if (response.statusCode() / 100 == 2) {
      return response.body();
    }
    String message =
        "pod "
            + server.pod()
            + ": "
            + built.uri().getPath()
            + " answered "
            + response.statusCode()
            + ": "
            + errorMessage(response.body())
            + (response.statusCode() == 401 && apiKey == null
                ? " (the server wants an API key: set spec.serving.apiKeySecretRef)"
                : "");
    if (response.statusCode() == 404) {
      throw new NotFound(message);
    }
    throw new ServerException(message);
  }

  /**
   * vLLM and OpenAI put the reason in {@code error.message} (older vLLM: top-level message; vLLM's
   * API-key check: {@code {"error": "Unauthorized"}}).
   */
  static String errorMessage(String body) {
    try {
      JsonNode node = JSON.readTree(body);
      if (node.path("error").path("message").isTextual()) {
        return node.path("error").path("message").asText();
      }
      if (node.path("error").isTextual()) {
        return node.path("error").asText();
      }
      if (node.path("message").isTextual()) {
        return node.path("message").asText();
      }
    } catch (IOException | RuntimeException e) {
      // not JSON: use the text
    }
    String text = body == null ? "" : body.strip();
    return text.length() > 300 ? text.substring(0, 300) + "..." : text;
  }

  private static String describe(IOException e) {
    return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
  }

  private static JsonNode parse(String body) throws ServerException {
    try {
      return JSON.readTree(body);
    } catch (IOException e) {
      throw new ServerException("answer is not JSON: " + e.getMessage());
    }
  }
}
