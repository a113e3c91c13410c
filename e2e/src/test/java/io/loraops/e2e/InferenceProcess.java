package io.loraops.e2e;

import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An inference server started as a process on a free loopback port: real vLLM ({@code hack/vllm},
 * the CPU build {@code make vllm} installs) or the project's server ({@code hack/lora-trainer
 * serve}), with the same flags, spoken to over HTTP/1.1 as vLLM's clients do.
 */
final class InferenceProcess implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(2))
          .build();

  /**
   * vLLM's flags for a CPU with little memory: float32 as the trainer computes, a short context,
   * runtime adapter loading (hack/vllm sets the environment for it).
   */
  static final List<String> VLLM_FLAGS =
      List.of(
          "--enable-lora",
          "--max-lora-rank",
          "64",
          "--max-loras",
          "4",
          "--dtype",
          "float32",
          "--max-model-len",
          "128");

  final String name;
  final int port;
  final Path log;
  private final Process process;

  private InferenceProcess(String name, List<String> command, Path log) throws IOException {
    this.name = name;
    this.port = freePort();
    this.log = log;
    List<String> full = new ArrayList<>(command);
    full.addAll(List.of("--host", "127.0.0.1", "--port", String.valueOf(port)));
    Files.createDirectories(log.getParent());
    ProcessBuilder pb =
        new ProcessBuilder(full)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()));
    pb.environment().put("LORA_DJL_CACHE", LocalMode.REPO.resolve(".local/djl-cache").toString());
    process = pb.start();
  }

  /** vLLM serving {@code model} under its folder's name, with {@code extra} flags. */
  static InferenceProcess vllm(Path model, Path logDir, String... extra) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(LocalMode.REPO.resolve("hack/vllm").toString());
    command.addAll(List.of("--model", model.toString(), "--served-model-name", servedName(model)));
    command.addAll(VLLM_FLAGS);
    command.addAll(List.of(extra));
    return new InferenceProcess("vllm", command, logDir.resolve("vllm.log"));
  }

  /**
   * vLLM serving {@code model} as a plain base model with LoRA disabled (a merged export): the
   * flags of {@link #VLLM_FLAGS} without the LoRA ones, log in {@code logDir}/vllm.log.
   */
  static InferenceProcess vllmWithoutLora(Path model, Path logDir) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(LocalMode.REPO.resolve("hack/vllm").toString());
    command.addAll(List.of("--model", model.toString(), "--served-model-name", servedName(model)));
    command.addAll(List.of("--dtype", "float32", "--max-model-len", "128"));
    return new InferenceProcess("vllm (no LoRA)", command, logDir.resolve("vllm.log"));
  }

  /** The project's server serving {@code model} under its folder's name. */
  static InferenceProcess ours(Path model, Path logDir) throws IOException {
    return new InferenceProcess(
        "lora-trainer serve",
        List.of(
            LocalMode.REPO.resolve("hack/lora-trainer").toString(),
            "serve",
            "--model",
            model.toString(),
            "--served-model-name",
            servedName(model)),
        logDir.resolve("serve.log"));
  }

  /**
   * The model folder's name, given to both servers: vLLM's default served name is the {@code
   * --model} path as given, ours the folder's name.
   */
  static String servedName(Path model) {
    return model.getFileName().toString();
  }

  /** Waits until {@code /health} answers 200 (vLLM: about half a minute on 2 cores). */
  InferenceProcess awaitReady(Duration atMost) {
    await()
        .atMost(atMost)
        .pollInterval(Duration.ofMillis(500))
        .ignoreExceptions()
        .until(
            () -> {
              if (!process.isAlive()) {
                throw new AssertionError(name + " exited; see " + log + ":\n" + tail());
              }
              return HTTP.send(
                          HttpRequest.newBuilder(uri("/health")).GET().build(),
                          HttpResponse.BodyHandlers.discarding())
                      .statusCode()
                  == 200;
            });
    return this;
  }

  URI uri(String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  /** POSTs {@code body} as JSON; the status and body. */
  HttpResponse<String> post(String path, Map<String, ?> body)
      throws IOException, InterruptedException {
    return HTTP.send(
        HttpRequest.newBuilder(uri(path))
            .header("Content-Type", "application/json")
            .timeout(Duration.ofSeconds(60))
            .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  JsonNode json(HttpResponse<String> response) throws IOException {
    if (response.statusCode() != 200) {
      throw new AssertionError(
          name + " answered " + response.statusCode() + ": " + response.body());
    }
    return JSON.readTree(response.body());
  }

  void load(String adapter, Path path) throws IOException, InterruptedException {
    HttpResponse<String> r =
        post("/v1/load_lora_adapter", Map.of("lora_name", adapter, "lora_path", path.toString()));
    if (r.statusCode() != 200) {
      throw new AssertionError(name + " did not load " + adapter + ": " + r.body());
    }
  }

  String tail() {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  @Override
  public void close() throws InterruptedException {
    process.toHandle().descendants().forEach(ProcessHandle::destroy);
    process.destroy();
    if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
      process.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly().waitFor();
    }
  }
}
