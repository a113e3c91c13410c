package io.loraops.operator.it;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.fabric8.kubernetes.api.model.BindingBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ProgressEvent;
import io.loraops.operator.trainer.TrialJobBuilder;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * The kubelet's part in reading a trainer's log: a Node whose kubelet endpoint is an HTTPS server
 * in the test, trial pods bound to it and reported Running, and their logs served at {@code
 * /containerLogs/<ns>/<pod>/<container>} as the kubelet serves them ({@code timestamps}, {@code
 * sinceTime} at one-second granularity, {@code limitBytes}). The operator reads them through the
 * real API server's {@code pods/log}, which proxies here. Public for bench/progress, which runs it
 * against the packaged operator.
 */
public final class FakeKubeletLogs implements AutoCloseable {

  private record Line(Instant at, String text) {}

  private final KubernetesClient client;
  private final String namespace;
  private final String node;
  private final HttpsServer server;
  // Several reads at once, as the operator's readers and a kubelet serve them.
  private final ExecutorService serving = Executors.newFixedThreadPool(4);
  private final Map<String, List<Line>> logs = new ConcurrentHashMap<>();

  /** Log reads served, and the bytes of their bodies. */
  public final AtomicInteger reads = new AtomicInteger();

  public final AtomicLong bytes = new AtomicLong();

  public FakeKubeletLogs(KubernetesClient client, String namespace) throws IOException {
    this.client = client;
    this.namespace = namespace;
    this.node = "fake-kubelet-" + namespace;
    server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    server.setHttpsConfigurator(new HttpsConfigurator(sslContext()));
    server.setExecutor(serving);
    server.createContext("/containerLogs/", this::serve);
    server.start();
    client
        .nodes()
        .resource(new NodeBuilder().withNewMetadata().withName(node).endMetadata().build())
        .create();
    client
        .nodes()
        .resource(
            new NodeBuilder()
                .withNewMetadata()
                .withName(node)
                .endMetadata()
                .withNewStatus()
                .withAddresses(List.of(new NodeAddress("127.0.0.1", "InternalIP")))
                .withNewDaemonEndpoints()
                .withNewKubeletEndpoint()
                .withPort(server.getAddress().getPort())
                .endKubeletEndpoint()
                .endDaemonEndpoints()
                .endStatus()
                .build())
        .patchStatus();
  }

  /** The Node this kubelet serves. */
  public String node() {
    return node;
  }

  /** Binds the pod to this node and reports its trainer running. */
  public void start(Pod pod) {
    String name = pod.getMetadata().getName();
    client
        .bindings()
        .inNamespace(namespace)
        .resource(
            new BindingBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(namespace)
                .endMetadata()
                .withTarget(
                    new ObjectReferenceBuilder()
                        .withKind("Node")
                        .withApiVersion("v1")
                        .withName(node)
                        .build())
                .build())
        .create();
    String now = Instant.now().toString();
    client
        .pods()
        .inNamespace(namespace)
        .withName(name)
        .editStatus(
            p ->
                new PodBuilder(p)
                    .editOrNewStatus()
                    .withPhase("Running")
                    .withStartTime(now)
                    .withContainerStatuses(
                        new ContainerStatusBuilder()
                            .withName(TrialJobBuilder.CONTAINER)
                            .withImage(p.getSpec().getContainers().get(0).getImage())
                            .withImageID("")
                            .withReady(true)
                            .withRestartCount(0)
                            .withStarted(true)
                            .withNewState()
                            .withNewRunning()
                            .withStartedAt(now)
                            .endRunning()
                            .endState()
                            .build())
                    .endStatus()
                    .build());
  }

  public boolean started(Pod pod) {
    return node.equals(pod.getSpec().getNodeName());
  }

  /** The trainer prints a progress line. */
  public void print(Pod pod, ProgressEvent event) {
    logs.computeIfAbsent(pod.getMetadata().getName(), p -> new CopyOnWriteArrayList<>())
        .add(new Line(Instant.now(), ContractJson.toJson(event)));
  }

  /** What the kubelet does once a deleted pod's containers stopped: removes it for good. */
  void reapDeletedPods() {
    for (Pod pod : client.pods().inNamespace(namespace).list().getItems()) {
      if (pod.getMetadata().getDeletionTimestamp() != null && started(pod)) {
        client
            .pods()
            .inNamespace(namespace)
            .withName(pod.getMetadata().getName())
            .withGracePeriod(0)
            .delete();
      }
    }
  }

  private void serve(HttpExchange exchange) throws IOException {
    reads.incrementAndGet();
    String[] parts = exchange.getRequestURI().getPath().split("/");
    List<Line> lines = parts.length == 5 ? logs.get(parts[3]) : null;
    if (lines == null) {
      exchange.sendResponseHeaders(404, -1);
      exchange.close();
      return;
    }
    Map<String, String> query = new HashMap<>();
    String raw = exchange.getRequestURI().getRawQuery();
    for (String kv : raw == null ? new String[0] : raw.split("&")) {
      int eq = kv.indexOf('=');
      if (eq > 0) {
        query.put(
            kv.substring(0, eq), URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
      }
    }
    Instant since =
        query.containsKey("sinceTime")
            ? Instant.parse(query.get("sinceTime")).truncatedTo(ChronoUnit.SECONDS)
            : Instant.EPOCH;
    boolean timestamps = "true".equals(query.get("timestamps"));
    StringBuilder out = new StringBuilder();
    for (Line line : lines) {
      if (!line.at().isBefore(since)) {
        out.append(timestamps ? line.at() + " " : "").append(line.text()).append('\n');
      }
    }
    byte[] body = out.toString().getBytes(StandardCharsets.UTF_8);
    if (query.containsKey("limitBytes")) {
      int limit = Integer.parseInt(query.get("limitBytes"));
      if (body.length > limit) {
        body = java.util.Arrays.copyOf(body, limit);
      }
    }
    bytes.addAndGet(body.length);
    exchange.getResponseHeaders().add("Content-Type", "text/plain");
    exchange.sendResponseHeaders(200, body.length == 0 ? -1 : body.length);
    try (OutputStream os = exchange.getResponseBody()) {
      os.write(body);
    }
  }

  private static SSLContext sslContext() throws IOException {
    Path p12 = Path.of("target/it-fake-kubelet.p12").toAbsolutePath();
    try {
      if (!Files.exists(p12)) {
        Process p =
            new ProcessBuilder(
                    Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                    "-genkeypair",
                    "-keyalg",
                    "RSA",
                    "-keysize",
                    "2048",
                    "-validity",
                    "3650",
                    "-dname",
                    "CN=fake-kubelet",
                    "-alias",
                    "kubelet",
                    "-storetype",
                    "PKCS12",
                    "-keystore",
                    p12.toString(),
                    "-storepass",
                    "changeit",
                    "-keypass",
                    "changeit")
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
          throw new IOException("keytool failed: " + out);
        }
      }
      KeyStore keys = KeyStore.getInstance("PKCS12");
      try (FileInputStream in = new FileInputStream(p12.toFile())) {
        keys.load(in, "changeit".toCharArray());
      }
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(keys, "changeit".toCharArray());
      SSLContext ssl = SSLContext.getInstance("TLS");
      ssl.init(kmf.getKeyManagers(), null, null);
      return ssl;
    } catch (GeneralSecurityException | InterruptedException e) {
      throw new IOException("cannot set up the fake kubelet's TLS: " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    serving.shutdownNow();
    reapDeletedPods();
    client.nodes().withName(node).delete();
  }
}
