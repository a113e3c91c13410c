package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The agent, in-process, against a real control plane: the cluster in {@code LORA_IT_KUBECONFIG} if
 * set, else kube-apiserver + kube-controller-manager started by {@code hack/control-plane.sh} from
 * the binaries {@code make tools} installs (skipped when they are missing). The Deployment and
 * ReplicaSet controllers are real; the agent binds and runs the pods of its own node, named
 * uniquely so that another agent on the same cluster never takes them. Covers the long-running
 * servers of Deployments (per-pod IPs, probes, restarts, deletion) and, as before, batch Jobs.
 */
class NodeAgentIT {

  static final Path REPO = Path.of("..").toAbsolutePath().normalize();
  static final String SUFFIX =
      UUID.randomUUID().toString().substring(0, 6).toLowerCase(Locale.ROOT);
  static final String NODE = "it-node-" + SUFFIX;
  static final String NS = "agent-it-" + SUFFIX;

  static Path controlPlane;
  static KubernetesClient client;
  static NodeAgent agent;

  @BeforeAll
  static void start() throws Exception {
    String external = System.getenv("LORA_IT_KUBECONFIG");
    Path kubeconfig;
    if (external != null && !external.isBlank()) {
      kubeconfig = Path.of(external);
    } else {
      Assumptions.assumeTrue(
          Files.isExecutable(REPO.resolve(".tools/bin/kube-apiserver")),
          "no control plane: run `make tools` or set LORA_IT_KUBECONFIG");
      controlPlane = Path.of("target/it-control-plane").toAbsolutePath();
      script("up", controlPlane);
      kubeconfig = controlPlane.resolve("kubeconfig");
    }
    client =
        new KubernetesClientBuilder()
            .withConfig(Config.fromKubeconfig(Files.readString(kubeconfig)))
            .build();
    Path root = Path.of("target/it-node-" + SUFFIX).toAbsolutePath();
    agent =
        new NodeAgent(
            client,
            new NodeAgent.Settings(
                NODE,
                root,
                root.resolve("claims"),
                Resources.parseCapacity("cpu=4,memory=8Gi,pods=16"),
                Map.of("local/http-server", "python3 -m http.server")));
    agent.start();
    client
        .namespaces()
        .resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build())
        .create();
    await()
        .atMost(Duration.ofSeconds(60))
        .until(() -> client.serviceAccounts().inNamespace(NS).withName("default").get() != null);
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      if (client != null) {
        client.apps().deployments().inNamespace(NS).delete();
        client.batch().v1().jobs().inNamespace(NS).delete();
        client.pods().inNamespace(NS).delete();
        // The agent finishes the deletions; it must still run meanwhile.
        await()
            .atMost(Duration.ofSeconds(30))
            .until(() -> client.pods().inNamespace(NS).list().getItems().isEmpty());
        client.namespaces().withName(NS).delete();
        client.nodes().withName(NODE).delete();
      }
    } finally {
      if (agent != null) {
        agent.close();
      }
      if (client != null) {
        client.close();
      }
      if (controlPlane != null) {
        script("down", controlPlane);
      }
    }
  }

  /**
   * Python's http.server on port 8000 of the pod's own IP (from the downward API), so replicas
   * never collide on the port.
   */
  private static ContainerBuilder httpServerOnPodIp() {
    return new ContainerBuilder()
        .withName("server")
        .withImage("local/http-server:1")
        .withArgs("--bind", "$(POD_IP)", "8000")
        .addNewEnv()
        .withName("POD_IP")
        .withNewValueFrom()
        .withNewFieldRef()
        .withFieldPath("status.podIP")
        .endFieldRef()
        .endValueFrom()
        .endEnv();
  }

  @Test
  void replicasServeOnTheirOwnIpsAndADeletedOneIsReplaced() throws Exception {
    Container server =
        httpServerOnPodIp()
            .addNewPort()
            .withName("http")
            .withContainerPort(8000)
            .endPort()
            .withNewReadinessProbe()
            .withNewHttpGet()
            .withPath("/")
            .withPort(new IntOrString("http"))
            .endHttpGet()
            .withPeriodSeconds(1)
            .endReadinessProbe()
            .build();
    client.apps().deployments().inNamespace(NS).resource(deployment("web", 2, server)).create();

    List<Pod> ready = awaitReady("web", 2);
    List<String> ips = ready.stream().map(p -> p.getStatus().getPodIP()).toList();
    assertThat(ips).doesNotHaveDuplicates().allMatch(PodIps::inRange);
    for (String ip : ips) {
      assertThat(get(ip, 8000)).isEqualTo(200);
    }
    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () ->
                Integer.valueOf(2)
                    .equals(
                        client
                            .apps()
                            .deployments()
                            .inNamespace(NS)
                            .withName("web")
                            .get()
                            .getStatus()
                            .getAvailableReplicas()));
    // kubectl logs, through the API server and the agent's log endpoint: the probes' requests.
    Pod first = ready.get(0);
    await()
        .ignoreExceptions() // the log is proxied through the API server to the agent
        .atMost(Duration.ofSeconds(10))
        .until(
            () ->
                client
                    .pods()
                    .inNamespace(NS)
                    .withName(first.getMetadata().getName())
                    .getLog()
                    .contains("GET / HTTP/1.1"));

    // kubectl delete pod: the process stops, the deletion finishes, a replacement runs and is
    // ready.
    client.pods().inNamespace(NS).withName(first.getMetadata().getName()).delete();
    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () ->
                client.pods().inNamespace(NS).withName(first.getMetadata().getName()).get()
                    == null);
    assertThat(refused(first.getStatus().getPodIP(), 8000)).isTrue();
    List<Pod> after = awaitReady("web", 2);
    assertThat(after)
        .extracting(p -> p.getMetadata().getUid())
        .doesNotContain(first.getMetadata().getUid());
    for (Pod p : after) {
      assertThat(get(p.getStatus().getPodIP(), 8000)).isEqualTo(200);
    }
  }

  @Test
  void aContainerThatExitsIsRestartedWithBackOff() throws Exception {
    Container crashing =
        new ContainerBuilder()
            .withName("crash")
            .withImage("local/sh:1")
            .withCommand("sh", "-c", "echo run $(date +%s%N); sleep 1; exit 3")
            .build();
    client.apps().deployments().inNamespace(NS).resource(deployment("crash", 1, crashing)).create();

    // Exit, immediate restart, exit again: CrashLoopBackOff for 10s, with the last exit reported.
    ContainerStatus backingOff =
        await()
            .atMost(Duration.ofSeconds(30))
            .until(
                () -> container("crash"),
                c ->
                    c != null
                        && c.getState().getWaiting() != null
                        && "CrashLoopBackOff".equals(c.getState().getWaiting().getReason()));
    assertThat(backingOff.getRestartCount()).isEqualTo(1);
    assertThat(backingOff.getLastState().getTerminated().getExitCode()).isEqualTo(3);
    Pod pod = pods("crash").get(0);
    assertThat(pod.getStatus().getPhase()).isEqualTo("Running");
    assertThat(
            client
                .pods()
                .inNamespace(NS)
                .withName(pod.getMetadata().getName())
                .terminated()
                .getLog())
        .startsWith("run ");

    ContainerStatus restarted =
        await()
            .atMost(Duration.ofSeconds(30))
            .until(() -> container("crash"), c -> c != null && c.getRestartCount() >= 2);
    assertThat(restarted.getLastState().getTerminated().getReason()).isEqualTo("Error");
  }

  @Test
  void aFailingLivenessProbeRestartsTheContainer() {
    Container unhealthy =
        httpServerOnPodIp()
            .withNewLivenessProbe()
            .withNewHttpGet()
            .withPath("/healthz") // python's http.server answers 404
            .withPort(new IntOrString(8000))
            .endHttpGet()
            .withPeriodSeconds(1)
            .withFailureThreshold(2)
            .withTerminationGracePeriodSeconds(1L)
            .endLivenessProbe()
            .build();
    client.apps().deployments().inNamespace(NS).resource(deployment("sick", 1, unhealthy)).create();
    ContainerStatus restarted =
        await()
            .atMost(Duration.ofSeconds(30))
            .until(() -> container("sick"), c -> c != null && c.getRestartCount() >= 1);
    assertThat(restarted.getLastState().getTerminated()).isNotNull();
  }

  @Test
  void aJobsPodRunsOnceAndItsTerminationMessageIsReported() {
    client
        .batch()
        .v1()
        .jobs()
        .inNamespace(NS)
        .resource(
            new JobBuilder()
                .withNewMetadata()
                .withName("once")
                .endMetadata()
                .withNewSpec()
                .withBackoffLimit(0)
                .withNewTemplate()
                .withNewMetadata()
                .withLabels(Map.of("app", "once"))
                .endMetadata()
                .withNewSpec()
                .withRestartPolicy("Never")
                .withNodeSelector(Map.of("kubernetes.io/hostname", NODE))
                .addNewContainer()
                .withName("job")
                .withImage("local/sh:1")
                .withCommand("sh", "-c", "echo done-$POD_NAME >/dev/termination-log")
                .addNewEnv()
                .withName("POD_NAME")
                .withNewValueFrom()
                .withNewFieldRef()
                .withFieldPath("metadata.name")
                .endFieldRef()
                .endValueFrom()
                .endEnv()
                .endContainer()
                .endSpec()
                .endTemplate()
                .endSpec()
                .build())
        .create();
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> client.batch().v1().jobs().inNamespace(NS).withName("once").get().getStatus(),
            s ->
                s != null
                    && s.getConditions() != null
                    && s.getConditions().stream()
                        .anyMatch(
                            c -> "Complete".equals(c.getType()) && "True".equals(c.getStatus())));
    Pod pod = pods("once").get(0);
    assertThat(pod.getStatus().getPhase()).isEqualTo("Succeeded");
    ContainerStatus cs = pod.getStatus().getContainerStatuses().get(0);
    assertThat(cs.getRestartCount()).isZero();
    assertThat(cs.getState().getTerminated().getMessage())
        .isEqualTo("done-" + pod.getMetadata().getName() + "\n");
  }

  private static Deployment deployment(String name, int replicas, Container container) {
    return new DeploymentBuilder()
        .withNewMetadata()
        .withName(name)
        .endMetadata()
        .withNewSpec()
        .withReplicas(replicas)
        .withNewSelector()
        .withMatchLabels(Map.of("app", name))
        .endSelector()
        .withNewTemplate()
        .withNewMetadata()
        .withLabels(Map.of("app", name))
        .endMetadata()
        .withNewSpec()
        .withNodeSelector(Map.of("kubernetes.io/hostname", NODE))
        .withTerminationGracePeriodSeconds(5L)
        .withContainers(container)
        .endSpec()
        .endTemplate()
        .endSpec()
        .build();
  }

  private static List<Pod> pods(String app) {
    return client.pods().inNamespace(NS).withLabel("app", app).list().getItems().stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .toList();
  }

  private static ContainerStatus container(String app) {
    List<Pod> pods = pods(app);
    if (pods.size() != 1
        || pods.get(0).getStatus() == null
        || pods.get(0).getStatus().getContainerStatuses() == null
        || pods.get(0).getStatus().getContainerStatuses().isEmpty()) {
      return null; // not started yet: a pending pod's status has no container statuses
    }
    return pods.get(0).getStatus().getContainerStatuses().get(0);
  }

  private static List<Pod> awaitReady(String app, int count) {
    return await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> pods(app),
            pods ->
                pods.size() == count
                    && pods.stream()
                        .allMatch(
                            p ->
                                "Running".equals(p.getStatus().getPhase())
                                    && p.getStatus().getConditions().stream()
                                        .anyMatch(
                                            c ->
                                                "Ready".equals(c.getType())
                                                    && "True".equals(c.getStatus()))));
  }

  private static int get(String ip, int port) throws IOException {
    HttpURLConnection c =
        (HttpURLConnection)
            URI.create("http://" + ip + ":" + port + "/").toURL().openConnection(Proxy.NO_PROXY);
    c.setConnectTimeout(2000);
    c.setReadTimeout(2000);
    try {
      return c.getResponseCode();
    } finally {
      c.disconnect();
    }
  }

  private static boolean refused(String ip, int port) {
    try {
      get(ip, port);
      return false;
    } catch (IOException e) {
      return true;
    }
  }

  private static void script(String verb, Path dir) throws IOException, InterruptedException {
    Process p =
        new ProcessBuilder(
                "bash", REPO.resolve("hack/control-plane.sh").toString(), verb, dir.toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(180, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException("hack/control-plane.sh " + verb + " failed:\n" + out);
    }
  }
}
