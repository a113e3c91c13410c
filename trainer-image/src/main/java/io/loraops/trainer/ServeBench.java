package io.loraops.trainer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.trainer.lora.PeftAdapter;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Adapter switch latency of a running {@code serve} process (bench/serve/run.sh): the time from a
 * {@code load_lora_adapter} call to the first completion answered with the new weights, for an
 * alias re-pointed with {@code load_inplace} and for a fresh name. A completion "has the new
 * weights" when its greedy text equals the one measured for that adapter version up front.
 */
final class ServeBench {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String PROMPT = "one two three four";
  private static final String ALIAS = "bench-alias";

  // HTTP/1.1, as vLLM's clients speak: the default HTTP/2 sends "Upgrade: h2c" on plain http,
  // and vLLM then drops the request body.
  private final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private final String url;
  private int staleAnswers;

  private ServeBench(String url) {
    this.url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }

  static int run(String url, Path v1, Path v2, int rounds) throws IOException {
    try {
      return new ServeBench(url)
          .bench(v1.toAbsolutePath().toString(), v2.toAbsolutePath().toString(), rounds);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
  }

  private int bench(String v1, String v2, int rounds) throws IOException, InterruptedException {
    String model = get("/v1/models").path("data").get(0).path("id").asText();
    int rank = JSON.readTree(Path.of(v1, PeftAdapter.CONFIG_FILE).toFile()).path("r").asInt();
    String[] paths = {v1, v2};
    String[] expected = new String[2];
    for (int v = 0; v < 2; v++) {
      load("bench-expect", paths[v], true);
      expected[v] = complete("bench-expect");
    }
    unload("bench-expect");
    if (expected[0].equals(expected[1])) {
      System.err.println("serve-bench: both adapters complete '" + PROMPT + "' alike; use others");
      return 1;
    }
    complete(model); // warm
    load(ALIAS, v1, false);
    double[] inplace = new double[rounds];
    double[] inplaceLoad = new double[rounds];
    double[] completion = new double[rounds];
    for (int i = 0; i < rounds; i++) {
      int v = (i + 1) % 2; // alternate v2, v1, ...
      long t0 = System.nanoTime();
      load(ALIAS, paths[v], true);
      long t1 = System.nanoTime();
      long t2 = awaitAnswer(ALIAS, expected[v]);
      inplace[i] = (t2 - t0) / 1e6;
      inplaceLoad[i] = (t1 - t0) / 1e6;
      completion[i] = (t2 - t1) / 1e6;
    }
    unload(ALIAS);
    double[] fresh = new double[rounds];
    for (int i = 0; i < rounds; i++) {
      int v = i % 2;
      String name = "bench-fresh-" + i;
      long t0 = System.nanoTime();
      load(name, paths[v], false);
      fresh[i] = (awaitAnswer(name, expected[v]) - t0) / 1e6;
      unload(name);
    }
    System.out.printf(
        Locale.ROOT,
        "serve-bench: load_inplace (alias re-pointed): median %.1f ms p95 %.1f ms"
            + " (load call median %.1f ms + first completion median %.1f ms), %d switches%n",
        median(inplace),
        p95(inplace),
        median(inplaceLoad),
        median(completion),
        rounds);
    System.out.printf(
        Locale.ROOT,
        "serve-bench: fresh name: median %.1f ms p95 %.1f ms, %d switches%n",
        median(fresh),
        p95(fresh),
        rounds);
    double[] all = new double[2 * rounds];
    System.arraycopy(inplace, 0, all, 0, rounds);
    System.arraycopy(fresh, 0, all, rounds, rounds);
    System.out.printf(
        Locale.ROOT,
        "serve-bench: switch latency: median %.1f ms p95 %.1f ms (model %s, rank %d)%n",
        median(all),
        p95(all),
        model,
        rank);
    if (staleAnswers > 0) {
      System.out.println("serve-bench: " + staleAnswers + " completions answered with old weights");
    }
    return 0;
  }

  /** Completes until the answer is {@code expected}; returns the time it arrived. */
  private long awaitAnswer(String model, String expected) throws IOException, InterruptedException {
    for (int tries = 0; tries < 100; tries++) {
      if (complete(model).equals(expected)) {
        return System.nanoTime();
      }
      staleAnswers++;
    }
    throw new IOException(model + " never answered with the new adapter's text");
  }

  private String complete(String model) throws IOException, InterruptedException {
    ObjectNode b = JSON.createObjectNode();
    b.put("model", model);
    b.put("prompt", PROMPT);
    b.put("max_tokens", 8);
    b.put("temperature", 0);
    return post("/v1/completions", b).path("choices").get(0).path("text").asText();
  }

  private void load(String name, String path, boolean inplace)
      throws IOException, InterruptedException {
    ObjectNode b = JSON.createObjectNode();
    b.put("lora_name", name);
    b.put("lora_path", path);
    b.put("load_inplace", inplace);
    post("/v1/load_lora_adapter", b);
  }

  private void unload(String name) throws IOException, InterruptedException {
    post("/v1/unload_lora_adapter", JSON.createObjectNode().put("lora_name", name));
  }

  private JsonNode get(String path) throws IOException, InterruptedException {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(url + path)).GET().build(),
            HttpResponse.BodyHandlers.ofString());
    return answer(path, r);
  }

  private JsonNode post(String path, JsonNode body) throws IOException, InterruptedException {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(url + path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    return answer(path, r);
  }

  private static JsonNode answer(String path, HttpResponse<String> r) throws IOException {
    if (r.statusCode() != 200) {
      throw new IOException(path + ": HTTP " + r.statusCode() + ": " + r.body());
    }
    return r.body().startsWith("{") ? JSON.readTree(r.body()) : JSON.nullNode();
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  /** Nearest-rank 95th percentile. */
  private static double p95(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[Math.max(0, (int) Math.ceil(0.95 * s.length) - 1)];
  }
}
