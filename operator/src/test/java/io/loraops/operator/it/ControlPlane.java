package io.loraops.operator.it;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real control plane (etcd, kube-apiserver, kube-controller-manager) shared by every *IT in this
 * JVM, started by {@code hack/control-plane.sh} from the binaries {@code make tools} installs. With
 * {@code LORA_IT_KUBECONFIG} set, that cluster is used instead and left running.
 *
 * <p>There is no kubelet and no scheduler: the Job controller creates trial pods, and tests play
 * the kubelet's part with {@link FakeKubelet}.
 */
public final class ControlPlane {

  public static final Path REPO = Path.of("..").toAbsolutePath().normalize();
  private static KubernetesClient client;
  private static Path kubeconfig;
  private static Path dir;

  private ControlPlane() {}

  public static synchronized KubernetesClient client() {
    if (client == null) {
      start();
    }
    return client;
  }

  public static synchronized Path kubeconfig() {
    client();
    return kubeconfig;
  }

  /**
   * The folder of the control plane this JVM started (hack/control-plane.sh's {@code <dir>}, where
   * hack/node.sh adds a node); null for a cluster given by {@code LORA_IT_KUBECONFIG}.
   */
  public static synchronized Path dir() {
    client();
    return dir;
  }

  /** A fresh namespace, so tests never see each other's objects. */
  public static String newNamespace(String prefix) {
    String name =
        prefix + "-" + UUID.randomUUID().toString().substring(0, 6).toLowerCase(Locale.ROOT);
    client()
        .namespaces()
        .resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build())
        .create();
    // Pods are refused until the controller manager has made the namespace's default
    // ServiceAccount; controllers retry with back-off, which costs tests seconds.
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> client().serviceAccounts().inNamespace(name).withName("default").get() != null);
    return name;
  }

  /**
   * Runs {@code kubectl} against the control plane; returns its stdout, fails on a non-zero exit.
   */
  public static String kubectl(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(REPO.resolve(".tools/bin/kubectl").toString());
    command.add("--kubeconfig=" + kubeconfig());
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException("kubectl " + String.join(" ", args) + " failed:\n" + out);
    }
    return out;
  }

  private static void start() {
    try {
      String external = System.getenv("LORA_IT_KUBECONFIG");
      if (external != null && !external.isBlank()) {
        kubeconfig = Path.of(external);
      } else {
        dir = Path.of("target/it-control-plane").toAbsolutePath();
        // A fresh store per test run: objects an earlier (killed) run left behind, such as pods
        // bound to the local node, would otherwise come back to life in this one.
        script("down", dir);
        deleteRecursively(dir.resolve("etcd"));
        script("up", dir);
        Runtime.getRuntime()
            .addShutdownHook(
                new Thread(
                    () -> {
                      try {
                        script("down", dir);
                      } catch (Exception e) {
                        System.err.println(
                            "could not stop the test control plane: " + e.getMessage());
                      }
                    }));
        kubeconfig = dir.resolve("kubeconfig");
      }
      Config config = Config.fromKubeconfig(Files.readString(kubeconfig));
      client = new KubernetesClientBuilder().withConfig(config).build();
      installCrds();
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException("could not start the test control plane", e);
    }
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  private static void script(String verb, Path dir) throws IOException, InterruptedException {
    hack("control-plane.sh", verb, dir.toString());
  }

  /** Runs {@code hack/<script> args...}; fails with its output on a non-zero exit. */
  public static void hack(String script, String... args) throws IOException, InterruptedException {
    List<String> command =
        new ArrayList<>(List.of("bash", REPO.resolve("hack/" + script).toString()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException(
          "hack/" + script + " " + String.join(" ", args) + " failed (run `make tools`?):\n" + out);
    }
  }

  /** Installs the committed CRDs, exactly as a user would, and waits until they are served. */
  private static void installCrds() throws IOException {
    try (Stream<Path> files = Files.list(REPO.resolve("crds"))) {
      for (Path file : files.sorted().toList()) {
        try (var in = Files.newInputStream(file)) {
          CustomResourceDefinition crd =
              client.apiextensions().v1().customResourceDefinitions().load(in).item();
          crd.getMetadata().setManagedFields(null);
          client.resource(crd).forceConflicts().serverSideApply();
          client
              .apiextensions()
              .v1()
              .customResourceDefinitions()
              .withName(crd.getMetadata().getName())
              .waitUntilCondition(
                  c ->
                      c != null
                          && c.getStatus() != null
                          // status exists before the apiserver has written any condition
                          && c.getStatus().getConditions() != null
                          && c.getStatus().getConditions().stream()
                              .anyMatch(
                                  cond ->
                                      "Established".equals(cond.getType())
                                          && "True".equals(cond.getStatus())),
                  30,
                  TimeUnit.SECONDS);
        }
      }
    }
  }
}
