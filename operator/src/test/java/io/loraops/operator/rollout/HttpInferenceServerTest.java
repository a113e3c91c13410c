package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.loraops.operator.rollout.InferenceServer.Endpoint;
import io.loraops.operator.rollout.InferenceServer.ServerException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The rollout's client against a tiny local server: headers, timeouts and error messages. */
class HttpInferenceServerTest {
  HttpServer http;
  Endpoint pod;
  final List<String> authorizations = new CopyOnWriteArrayList<>();
  final List<String> loadBodies = new CopyOnWriteArrayList<>();
  volatile long completionDelayMillis;

  @BeforeEach
  void start() throws Exception {
    http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
    http.createContext(
        "/v1/models",
        ex -> {
          String auth = ex.getRequestHeaders().getFirst("Authorization");
          authorizations.add(String.valueOf(auth));
          byte[] body =
              (auth == null
                      ? "{\"error\":\"Unauthorized\"}"
                      : "{\"data\":[{\"id\":\"base\",\"parent\":null},"
                          + "{\"id\":\"bot-v1\",\"root\":\"/a/v1\",\"parent\":\"base\"}]}")
                  .getBytes(StandardCharsets.UTF_8);
          ex.sendResponseHeaders(auth == null ? 401 : 200, body.length);
          ex.getResponseBody().write(body);
          ex.close();
        });
    http.createContext(
        "/v1/completions",
        ex -> {
          try {
            Thread.sleep(completionDelayMillis);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          byte[] body = "{\"choices\":[{\"text\":\" ok\"}]}".getBytes(StandardCharsets.UTF_8);
          ex.sendResponseHeaders(200, body.length);
          ex.getResponseBody().write(body);
          ex.close();
        });
    http.createContext(
        "/v1/load_lora_adapter",
        ex -> {
          // As vLLM's server (uvicorn) does: a request asking to upgrade to h2c is answered as if
          // it had no body, so a client that sends the upgrade header can never load anything.
          String upgrade = ex.getRequestHeaders().getFirst("Upgrade");
          byte[] request = ex.getRequestBody().readAllBytes();
          boolean bodyDropped = upgrade != null || request.length == 0;
          loadBodies.add(new String(request, StandardCharsets.UTF_8));
          byte[] body =
              (bodyDropped
                      ? "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\"],"
                          + "\"msg\":\"Field required\"}]}"
                      : "Success: LoRA adapter loaded.")
                  .getBytes(StandardCharsets.UTF_8);
          ex.sendResponseHeaders(bodyDropped ? 400 : 200, body.length);
          ex.getResponseBody().write(body);
          ex.close();
        });
    http.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
    http.start();
    pod = new Endpoint("pod-a", "127.0.0.1", http.getAddress().getPort());
  }

  @AfterEach
  void stop() {
    http.stop(0);
  }

  @Test
  void requestsAreHttp11SoAServerThatDropsBodiesOnAnH2cUpgradeStillGetsThem() throws Exception {
    new HttpInferenceServer(Duration.ofSeconds(5)).load(pod, "bot-v1", "/a/v1", false);
    assertThat(loadBodies).containsExactly("{\"lora_name\":\"bot-v1\",\"lora_path\":\"/a/v1\"}");
  }

  @Test
  void theApiKeyIsSentAsABearerTokenAndA401WithoutOneSaysWhatToSet() throws Exception {
    InferenceServer server = new HttpInferenceServer(Duration.ofSeconds(5));
    assertThatThrownBy(() -> server.models(pod))
        .isInstanceOf(ServerException.class)
        .hasMessage(
            "pod pod-a: /v1/models answered 401: Unauthorized (the server wants an API key: set"
                + " spec.serving.apiKeySecretRef)");
    InferenceServer.Models models = server.withApiKey("s3cret").models(pod);
    assertThat(models.adapters()).containsExactly(Map.entry("bot-v1", "/a/v1"));
    assertThat(models.baseId()).isEqualTo("base");
    assertThat(authorizations).containsExactly("null", "Bearer s3cret");
  }

  @Test
  void aProbeSlowerThanItsBoundIsNotWaitedForUntilTheGeneralTimeout() throws Exception {
    InferenceServer server = new HttpInferenceServer(Duration.ofSeconds(60)).withApiKey("k");
    completionDelayMillis = 0;
    assertThat(server.complete(pod, "bot-v1", "hi", 4, Duration.ofMillis(200)).took())
        .isLessThan(Duration.ofSeconds(5));
    completionDelayMillis = 5_000;
    long start = System.nanoTime();
    assertThatThrownBy(() -> server.complete(pod, "bot-v1", "hi", 4, Duration.ofMillis(200)))
        .isInstanceOf(ServerException.class)
        .hasMessage("pod pod-a: /v1/completions gave no answer within 1200 ms");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(4));
  }
}
