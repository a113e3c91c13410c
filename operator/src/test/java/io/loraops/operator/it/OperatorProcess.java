package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The packaged operator (target/quarkus-app), started as a user would start it, watching one
 * namespace of the IT control plane; a separate process, so a test can kill it with SIGKILL.
 */
final class OperatorProcess implements AutoCloseable {

  final int port;
  private final Process process;

  private OperatorProcess(int port, Process process) {
    this.port = port;
    this.process = process;
  }

  /**
   * Starts the operator and waits until it is ready. {@code env} adds settings (e.g. {@code
   * LORA_LEADER_ELECTION_*}, {@code HOSTNAME} as the leader-election identity); the output goes to
   * {@code log}, appended, so a restarted operator's log follows its predecessor's.
   */
  static OperatorProcess start(String namespace, Path log, Map<String, String> env) {
    Path jar = Path.of("target/quarkus-app/quarkus-run.jar");
    assertThat(jar).as("built by `mvn package`").exists();
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    ProcessBuilder builder =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dquarkus.http.port=" + port,
                "-Dquarkus.http.host=127.0.0.1",
                "-Dquarkus.operator-sdk.namespaces=" + namespace,
                "-jar",
                jar.toString())
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    builder.environment().put("KUBECONFIG", ControlPlane.kubeconfig().toString());
    builder.environment().putAll(env);
    OperatorProcess operator;
    try {
      operator = new OperatorProcess(port, builder.start());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    // Started, not ready: a standby replica is not ready until it leads.
    await()
        .atMost(Duration.ofSeconds(90))
        .ignoreExceptions()
        .until(() -> operator.get("/q/health/started").statusCode() == 200);
    return operator;
  }

  HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
            HttpResponse.BodyHandlers.ofString());
  }

  boolean isAlive() {
    return process.isAlive();
  }

  /** SIGKILL: no shutdown hook runs, nothing is flushed, as when a node dies or OOM strikes. */
  void kill() {
    process.destroyForcibly();
    exitedWithin(Duration.ofSeconds(30));
  }

  /**
   * SIGTERM, as the kubelet stops a container, and the same 30 s grace period: an operator that has
   * not exited by then is killed, and the test fails (a leading replica once hung in its shutdown
   * hooks for good, see LeaderElections).
   */
  @Override
  public void close() {
    process.destroy();
    if (!exitedWithin(Duration.ofSeconds(30))) {
      process.destroyForcibly();
      exitedWithin(Duration.ofSeconds(30));
      throw new AssertionError("the operator did not exit within 30 s of SIGTERM");
    }
  }

  private boolean exitedWithin(Duration grace) {
    try {
      return process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
