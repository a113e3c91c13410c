package io.loraops.operator.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The packaged operator (target/quarkus-app), started as a user would start it, watching one
 * namespace; a separate process, so a test can kill it with SIGKILL. Used by the ITs and by {@code
 * bench/progress} (which runs it with the chart's JVM options), so it needs nothing from the test
 * libraries.
 */
public final class OperatorProcess implements AutoCloseable {

  final int port;
  private final Process process;

  private OperatorProcess(int port, Process process) {
    this.port = port;
    this.process = process;
  }

  /**
   * Starts the operator against the IT control plane and waits until it has started. {@code env}
   * adds settings (e.g. {@code LORA_LEADER_ELECTION_*}, {@code HOSTNAME} as the leader-election
   * identity); the output goes to {@code log}, appended, so a restarted operator's log follows its
   * predecessor's.
   */
  static OperatorProcess start(String namespace, Path log, Map<String, String> env) {
    Map<String, String> settings = new HashMap<>(env);
    settings.put("KUBECONFIG", ControlPlane.kubeconfig().toString());
    return start(
        Path.of("target/quarkus-app/quarkus-run.jar"), List.of(), namespace, log, settings);
  }

  /**
   * Starts {@code jar} with {@code jvmOptions} (the environment's {@code KUBECONFIG} unless {@code
   * env} names one) and waits until it has started: not until it is ready, since a standby replica
   * is not ready until it leads.
   */
  public static OperatorProcess start(
      Path jar, List<String> jvmOptions, String namespace, Path log, Map<String, String> env) {
    if (!Files.exists(jar)) {
      throw new IllegalStateException(jar + " does not exist: build it with `mvn package`");
    }
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(jvmOptions);
    command.addAll(
        List.of(
            "-Dquarkus.http.port=" + port,
            "-Dquarkus.http.host=127.0.0.1",
            "-Dquarkus.operator-sdk.namespaces=" + namespace,
            "-jar",
            jar.toString()));
    ProcessBuilder builder =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    builder.environment().putAll(env);
    OperatorProcess operator;
    try {
      operator = new OperatorProcess(port, builder.start());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    operator.awaitHealth("started", Duration.ofSeconds(90), log);
    return operator;
  }

  /** Waits until {@code /q/health/<check>} answers 200 (ready: this replica leads). */
  public void awaitHealth(String check, Duration timeout, Path log) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException("the operator exited; see " + log);
      }
      try {
        if (get("/q/health/" + check).statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    throw new IllegalStateException(
        "the operator was not " + check + " within " + timeout + "; see " + log);
  }

  public long pid() {
    return process.pid();
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
