package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.DeletionPropagation;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.it.ControlPlane;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.support.Labels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Local mode for tests, as {@code make demo} runs it: the real control plane and a real node
 * (kubelet, containerd; {@link RealNode}), the operator installed into the test's namespace by its
 * Helm chart from the image its Dockerfile builds, trial pods on the trainer image, and the
 * PersistentVolumeClaims the examples name bound to folders holding a tiny model and the quickstart
 * data.
 */
final class LocalMode implements AutoCloseable {

  static final Path REPO = ControlPlane.REPO;
  private static final String OPERATOR_LABELS = "app.kubernetes.io/name=lora-operator";

  final KubernetesClient client = ControlPlane.client();
  final String namespace;
  final Path work;
  final Path claims;
  private final String release;
  private final List<String> chartValues;

  /** Local mode in a fresh namespace, the operator installed with {@code chartValues} set. */
  LocalMode(String prefix, String... chartValues) throws Exception {
    this.chartValues = List.of(chartValues);
    namespace = ControlPlane.newNamespace(prefix);
    release = "lora-" + namespace;
    work = Path.of("target", namespace).toAbsolutePath();
    claims = work.resolve("claims");
    Files.createDirectories(work);
    RealNode.ensureUp();
    ControlPlane.hack(
        "claims.sh", ControlPlane.kubeconfig().toString(), namespace, claims.toString());
    generateModel("tiny-llama-h32");
    Files.copy(
        REPO.resolve("examples/data/quickstart.jsonl"),
        claims.resolve("datasets/quickstart.jsonl"),
        StandardCopyOption.REPLACE_EXISTING);
    installOperator();
  }

  /** Writes model preset {@code preset} (seed 42, the word-level tokenizer) into claim "models". */
  void generateModel(String preset) throws Exception {
    run(
        List.of(
            REPO.resolve("hack/lora-trainer").toString(),
            "gen-model",
            preset,
            claims.resolve("models/" + preset).toString(),
            "42"));
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

  /**
   * The operator as a user installs it: the chart, watching this namespace only (a Role, no
   * cluster-wide grant), its CRDs already applied by the test control plane.
   */
  private void installOperator() throws Exception {
    List<String> command =
        new ArrayList<>(
            List.of(
                REPO.resolve(".tools/bin/helm").toString(),
                "--kubeconfig",
                ControlPlane.kubeconfig().toString(),
                "install",
                release,
                REPO.resolve("charts/lora-operator").toString(),
                "--namespace",
                namespace,
                "--skip-crds",
                "--set",
                "watchNamespaces={" + namespace + "}",
                "--wait",
                "--timeout",
                "180s"));
    for (String value : chartValues) {
      command.addAll(List.of("--set", value));
    }
    run(command);
  }

  /** The operator's pods (one per replica). */
  List<Pod> operatorPods() {
    return client
        .pods()
        .inNamespace(namespace)
        .withLabelSelector(OPERATOR_LABELS)
        .list()
        .getItems();
  }

  /**
   * Kills the operator's container with SIGKILL (no shutdown hooks), as a crash would, and waits
   * until the kubelet has restarted it and it is ready again.
   */
  void killOperator() throws Exception {
    ContainerStatus container = operatorPod().getStatus().getContainerStatuses().get(0);
    int restarts = container.getRestartCount();
    RealNode.kill(container.getContainerID());
    await()
        .atMost(Duration.ofMinutes(2))
        .pollInterval(Duration.ofMillis(500))
        .ignoreExceptions()
        .until(
            () -> {
              ContainerStatus now = operatorPod().getStatus().getContainerStatuses().get(0);
              return now.getRestartCount() > restarts && Boolean.TRUE.equals(now.getReady());
            });
  }

  private Pod operatorPod() {
    List<Pod> pods = operatorPods();
    if (pods.size() != 1) {
      throw new IllegalStateException("expected one operator pod, found " + pods.size());
    }
    return pods.get(0);
  }

  /** A pod's log, through the API server and the kubelet. */
  String podLog(String pod) throws Exception {
    return kubectl("logs", pod);
  }

  /** Kills a pod's first container with SIGKILL through containerd, as a crash would. */
  void killContainer(Pod pod) throws Exception {
    RealNode.kill(pod.getStatus().getContainerStatuses().get(0).getContainerID());
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

  /**
   * Applies examples/quickstart.yaml as LoraJob {@code name} publishing into adapter {@code name},
   * with {@code edits} (pairs of text to find and its replacement) applied to the manifest.
   */
  void applyQuickstartAs(String name, String... edits) throws Exception {
    String manifest =
        Files.readString(REPO.resolve("examples/quickstart.yaml"))
            .replace("name: quickstart", "name: " + name)
            .replace("adapter: quickstart", "adapter: " + name);
    for (int i = 0; i < edits.length; i += 2) {
      assertThat(manifest).as("the quickstart still has " + edits[i]).contains(edits[i]);
      manifest = manifest.replace(edits[i], edits[i + 1]);
    }
    apply(manifest);
  }

  void apply(String manifest) throws Exception {
    Path file = Files.createTempFile("lorajob", ".yaml");
    Files.writeString(file, manifest);
    kubectl("apply", "-f", file.toString());
  }

  LoraJob awaitComplete(String name, Duration timeout) {
    await()
        .atMost(timeout)
        .pollInterval(Duration.ofSeconds(1))
        .until(
            () -> {
              LoraJob j = loraJob(name);
              if (j != null
                  && j.getStatus() != null
                  && Conditions.isTrue(j.getStatus().getConditions(), "Failed")) {
                throw new AssertionError(name + " failed: " + j.getStatus().getTrials());
              }
              return j != null
                  && j.getStatus() != null
                  && Conditions.isTrue(j.getStatus().getConditions(), "Complete");
            });
    return loraJob(name);
  }

  /** Waits until LoraJob {@code name} has at least {@code n} succeeded trials. */
  void awaitTrialsSucceeded(String name, int n) {
    await()
        .atMost(Duration.ofMinutes(3))
        .pollInterval(Duration.ofMillis(300))
        .until(
            () -> {
              LoraJob j = loraJob(name);
              return j != null
                  && j.getStatus() != null
                  && j.getStatus().getTrialsSucceeded() != null
                  && j.getStatus().getTrialsSucceeded() >= n;
            });
  }

  /**
   * Waits until LoraJob {@code name} completes and checks that nothing was done twice: version 1
   * published, one trial Job per trial ({@code trials}) and one publish Job, one version record.
   */
  void assertPublishedOnceFrom(String name, int trials) {
    LoraJob job = awaitComplete(name, Duration.ofMinutes(5));
    assertThat(job.getStatus().getPublishedVersion()).isEqualTo(1);
    assertThat(
            client
                .batch()
                .v1()
                .jobs()
                .inNamespace(namespace)
                .withLabel(Labels.LORA_JOB, name)
                .list()
                .getItems())
        .extracting(j -> j.getMetadata().getLabels().get(Labels.COMPONENT))
        .containsOnly(Labels.TRIAL_COMPONENT, Labels.PUBLISH_COMPONENT)
        .filteredOn(Labels.TRIAL_COMPONENT::equals)
        .hasSize(trials);
    assertThat(
            client
                .batch()
                .v1()
                .jobs()
                .inNamespace(namespace)
                .withLabel(Labels.COMPONENT, Labels.PUBLISH_COMPONENT)
                .withLabel(Labels.LORA_JOB, name)
                .list()
                .getItems())
        .hasSize(1);
    assertThat(
            client
                .configMaps()
                .inNamespace(namespace)
                .withLabel(Labels.ADAPTER, name)
                .withLabel(Labels.VERSION)
                .list()
                .getItems())
        .hasSize(1);
  }

  LoraJob loraJob(String name) {
    return client.resources(LoraJob.class).inNamespace(namespace).withName(name).get();
  }

  /**
   * Removes what the test started while its operator still runs: LoraAdapters (the operator's
   * finalizer unloads them from the servers), then workloads and their pods, which would otherwise
   * hold the node's capacity that the next test's sweeps need.
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
  public void close() throws Exception {
    saveOperatorLogs();
    removeWorkloads();
    run(
        List.of(
            REPO.resolve(".tools/bin/helm").toString(),
            "--kubeconfig",
            ControlPlane.kubeconfig().toString(),
            "uninstall",
            release,
            "--namespace",
            namespace,
            "--wait"));
    client.persistentVolumeClaims().inNamespace(namespace).delete();
    client.persistentVolumes().withLabel("loraops.io/local-claims", namespace).delete();
  }

  /**
   * Each operator pod's log, into {@code <work>/operator-<pod>.log}, for a failed test's reader.
   */
  private void saveOperatorLogs() {
    for (Pod pod : operatorPods()) {
      String name = pod.getMetadata().getName();
      try {
        Files.writeString(work.resolve("operator-" + name + ".log"), kubectl("logs", name));
      } catch (Exception e) {
        System.err.println("local mode: could not save the log of " + name + ": " + e);
      }
    }
  }
}
