package io.loraops.e2e;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.DeletionPropagation;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.it.ControlPlane;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;

/**
 * Local mode for tests, as {@code make demo} runs it: the real control plane, the packaged operator
 * and the local node agent as processes, the real trainer for trial pods, and PVC folders holding a
 * tiny model and the quickstart data.
 */
final class LocalMode implements AutoCloseable {

  static final Path REPO = ControlPlane.REPO;

  final KubernetesClient client = ControlPlane.client();
  final String namespace;
  final Path work;
  final Path claims;
  private Process operator;
  private Process nodeAgent;
  private int operatorPort;

  LocalMode(String prefix) throws Exception {
    namespace = ControlPlane.newNamespace(prefix);
    work = Path.of("target", namespace).toAbsolutePath();
    claims = work.resolve("claims");
    Files.createDirectories(claims.resolve("models"));
    Files.createDirectories(claims.resolve("datasets"));
    Files.createDirectories(claims.resolve("adapters"));
    run(
        List.of(
            REPO.resolve("hack/lora-trainer").toString(),
            "gen-model",
            "tiny-llama-h32",
            claims.resolve("models/tiny-llama-h32").toString(),
            "42"));
    Files.copy(
        REPO.resolve("examples/data/quickstart.jsonl"),
        claims.resolve("datasets/quickstart.jsonl"),
        StandardCopyOption.REPLACE_EXISTING);
    startNodeAgent();
    startOperator();
  }

  /**
   * Writes model preset {@code preset} into the "models" claim with the real tokenizer {@code
   * tokenizer} (a name hack/real-tokenizer.sh knows), as {@code make demo-qwen3} does, and copies
   * {@code dataset} from examples/data into the "datasets" claim.
   */
  void addModel(String preset, String tokenizer, String dataset) throws Exception {
    Process p =
        new ProcessBuilder(REPO.resolve("hack/real-tokenizer.sh").toString(), tokenizer)
            .redirectError(ProcessBuilder.Redirect.appendTo(work.resolve("setup.log").toFile()))
            .start();
    String folder = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    if (p.waitFor() != 0) {
      throw new IllegalStateException(
          "hack/real-tokenizer.sh " + tokenizer + " failed; see setup.log");
    }
    run(
        List.of(
            REPO.resolve("hack/lora-trainer").toString(),
            "gen-model",
            preset,
            claims.resolve("models/" + preset).toString(),
            "42",
            folder));
    Files.copy(
        REPO.resolve("examples/data/" + dataset),
        claims.resolve("datasets/" + dataset),
        StandardCopyOption.REPLACE_EXISTING);
  }

  void startOperator() throws Exception {
    try (ServerSocket socket = new ServerSocket(0)) {
      operatorPort = socket.getLocalPort();
    }
    operator =
        start(
            "operator",
            List.of(
                java(),
                "-Dquarkus.http.port=" + operatorPort,
                "-Dquarkus.operator-sdk.namespaces=" + namespace,
                "-jar",
                REPO.resolve("operator/target/quarkus-app/quarkus-run.jar").toString()));
    await()
        .atMost(Duration.ofSeconds(60))
        .ignoreExceptions()
        .until(
            () ->
                HttpClient.newHttpClient()
                        .send(
                            HttpRequest.newBuilder(
                                    URI.create(
                                        "http://127.0.0.1:" + operatorPort + "/q/health/ready"))
                                .build(),
                            HttpResponse.BodyHandlers.discarding())
                        .statusCode()
                    == 200);
  }

  /** Kills the operator the hard way (no shutdown hooks), as a node failure would. */
  void killOperator() throws InterruptedException {
    operator.destroyForcibly();
    operator.waitFor();
  }

  private void startNodeAgent() throws Exception {
    nodeAgent =
        start(
            "node-agent",
            List.of(
                java(),
                "-jar",
                REPO.resolve("node-agent/target/lora-node-agent.jar").toString(),
                "--kubeconfig",
                ControlPlane.kubeconfig().toString(),
                "--node-name",
                "local-node",
                "--root",
                work.resolve("node").toString(),
                "--claims",
                claims.toString(),
                "--capacity",
                "cpu=2,memory=16Gi,nvidia.com/gpu=4,pods=8",
                "--image",
                "loraops/lora-trainer=" + REPO.resolve("hack/lora-trainer"),
                "--image",
                "vllm/vllm-openai=" + REPO.resolve("hack/vllm")));
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> client.nodes().withName("local-node").get() != null);
  }

  /** The folder the node agent keeps for a pod (its trainer.log, termination-log, volumes). */
  Path podDir(String podName) {
    return work.resolve("node/pods/" + namespace + "_" + podName);
  }

  /** The local folder behind a pvc:// URI. */
  Path local(String pvcUri) {
    return claims.resolve(pvcUri.substring("pvc://".length()));
  }

  String kubectl(String... args) throws IOException, InterruptedException {
    String[] withNamespace = new String[args.length + 2];
    withNamespace[0] = "-n";
    withNamespace[1] = namespace;
    System.arraycopy(args, 0, withNamespace, 2, args.length);
    return ControlPlane.kubectl(withNamespace);
  }

  private Process start(String name, List<String> command) throws IOException {
    Files.createDirectories(work);
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(work.resolve(name + ".log").toFile()));
    pb.environment().put("KUBECONFIG", ControlPlane.kubeconfig().toString());
    pb.environment().put("LORA_DJL_CACHE", REPO.resolve(".local/djl-cache").toString());
    return pb.start();
  }

  private void run(List<String> command) throws IOException, InterruptedException {
    Process p =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(work.resolve("setup.log").toFile()))
            .start();
    if (p.waitFor() != 0) {
      throw new IllegalStateException(
          String.join(" ", command) + " failed; see " + work.resolve("setup.log"));
    }
  }

  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /**
   * Removes what the test started, while the operator and node agent still run: LoraAdapters (the
   * operator's finalizer unloads them from the servers), then workloads and their pods. Every
   * LocalMode's agent is node "local-node", so pods left behind would run on the next test's node.
   */
  private void removeWorkloads() {
    try {
      client.resources(LoraAdapter.class).inNamespace(namespace).delete();
      await()
          .atMost(Duration.ofSeconds(90))
          .until(
              () ->
                  client
                      .resources(LoraAdapter.class)
                      .inNamespace(namespace)
                      .list()
                      .getItems()
                      .isEmpty());
      client.apps().deployments().inNamespace(namespace).delete();
      client
          .batch()
          .v1()
          .jobs()
          .inNamespace(namespace)
          .withPropagationPolicy(DeletionPropagation.BACKGROUND)
          .delete();
      client.pods().inNamespace(namespace).delete();
      await()
          .atMost(Duration.ofSeconds(60))
          .until(() -> client.pods().inNamespace(namespace).list().getItems().isEmpty());
    } catch (RuntimeException e) {
      System.err.println("local mode: cleaning namespace " + namespace + " failed: " + e);
    }
  }

  @Override
  public void close() throws InterruptedException {
    if (operator != null && operator.isAlive() && nodeAgent != null && nodeAgent.isAlive()) {
      removeWorkloads();
    }
    for (Process p : new Process[] {operator, nodeAgent}) {
      if (p != null) {
        p.destroy();
        p.waitFor();
      }
    }
  }
}
