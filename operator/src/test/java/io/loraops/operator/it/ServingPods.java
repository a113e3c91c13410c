package io.loraops.operator.it;

import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Plays the kubelet for inference Deployments in an IT (the IT control plane has no kubelet): each
 * new pod of the namespace gets its own loopback IP (Linux routes all of 127/8 to lo), a {@link
 * VllmStandIn} listening there on the given port, and a Running/Ready status. Like {@code vllm
 * --lora-modules}, a stand-in preloads the adapter the restart loader wrote into the pod's env.
 */
final class ServingPods implements AutoCloseable {
  private static final AtomicInteger NEXT_IP = new AtomicInteger(1);

  final Map<String, VllmStandIn> servers = new ConcurrentHashMap<>(); // pod name -> server
  final Set<String> brokenPaths = ConcurrentHashMap.newKeySet();

  /** A pod label: the pod's server never answers a load request, as a wedged server does. */
  static final String WEDGED = "serving-it/wedged";

  /** Set to false to play a vLLM from before load_inplace. */
  volatile boolean loadInplace = true;

  /** Set to play vLLMs started with {@code --api-key}. */
  volatile String apiKey;

  private final KubernetesClient client;
  private final String namespace;
  private final int port;
  private final ScheduledExecutorService loop = Executors.newSingleThreadScheduledExecutor();

  ServingPods(KubernetesClient client, String namespace, int port) {
    this.client = client;
    this.namespace = namespace;
    this.port = port;
    loop.scheduleWithFixedDelay(this::sync, 0, 200, TimeUnit.MILLISECONDS);
  }

  /**
   * A Deployment of {@code replicas} vLLM pods (played by stand-ins), the pods carrying {@code
   * podLabels}, mounting the adapters claim read-only as a vLLM Deployment does.
   */
  static Deployment deployment(
      String namespace, String name, int replicas, Map<String, String> podLabels) {
    Map<String, String> labels = new java.util.HashMap<>(podLabels);
    labels.put("app", name);
    return new DeploymentBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(namespace)
        .withLabels(Map.of("app", name))
        .endMetadata()
        .withNewSpec()
        .withReplicas(replicas)
        .withNewSelector()
        .withMatchLabels(Map.of("app", name))
        .endSelector()
        .withNewTemplate()
        .withNewMetadata()
        .withLabels(labels)
        .endMetadata()
        .withNewSpec()
        .addNewContainer()
        .withName("vllm")
        .withImage("vllm/vllm-openai:v0.11.0")
        .addNewVolumeMount()
        .withName("adapters")
        .withMountPath("/adapters")
        .withReadOnly(true)
        .endVolumeMount()
        .endContainer()
        .addNewVolume()
        .withName("adapters")
        .withNewPersistentVolumeClaim()
        .withClaimName("adapters")
        .endPersistentVolumeClaim()
        .endVolume()
        .endSpec()
        .endTemplate()
        .endSpec()
        .build();
  }

  private void sync() {
    try {
      var pods = client.pods().inNamespace(namespace).list().getItems();
      Set<String> live = ConcurrentHashMap.newKeySet();
      for (Pod pod : pods) {
        if (!ofADeployment(pod)) {
          continue; // a trial pod: FakeKubelet plays those
        }
        String name = pod.getMetadata().getName();
        live.add(name);
        if (pod.getMetadata().getDeletionTimestamp() == null && !servers.containsKey(name)) {
          start(pod);
        }
      }
      servers.keySet().stream()
          .filter(name -> !live.contains(name))
          .toList()
          .forEach(name -> servers.remove(name).close());
    } catch (RuntimeException e) {
      // the next round retries (an exception escaping would cancel the schedule for good)
    }
  }

  private static boolean ofADeployment(Pod pod) {
    return pod.getMetadata().getOwnerReferences().stream()
        .anyMatch(o -> "ReplicaSet".equals(o.getKind()));
  }

  private void start(Pod pod) {
    int n = NEXT_IP.getAndIncrement();
    String ip = "127.43." + (n / 250) + "." + (n % 250 + 2);
    VllmStandIn server;
    try {
      server = new VllmStandIn(ip, port, "tiny", brokenPaths, loadInplace, apiKey);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    server.hangLoads = pod.getMetadata().getLabels().containsKey(WEDGED);
    for (EnvVar env : pod.getSpec().getContainers().get(0).getEnv()) {
      if (env.getName().startsWith("LORA_ADAPTER_") && env.getName().endsWith("_NAME")) {
        String prefix = env.getName().substring(0, env.getName().length() - "_NAME".length());
        String path = envValue(pod, prefix + "_PATH");
        server.preload(env.getValue(), path).preload(envValue(pod, prefix + "_ALIAS"), path);
      }
    }
    String now = Instant.now().toString();
    try {
      writeRunning(pod, ip, now);
    } catch (RuntimeException e) {
      server.close(); // the next round starts it again
      throw e;
    }
    servers.put(pod.getMetadata().getName(), server);
  }

  private void writeRunning(Pod pod, String ip, String now) {
    Conflicts.retry(
        () ->
            client
                .pods()
                .inNamespace(namespace)
                .withName(pod.getMetadata().getName())
                .editStatus(
                    p ->
                        new PodBuilder(p)
                            .editOrNewStatus()
                            .withPhase("Running")
                            .withHostIP("127.0.0.1")
                            .withPodIP(ip)
                            .withPodIPs(new PodIPBuilder().withIp(ip).build())
                            .withStartTime(now)
                            .withConditions(
                                new PodConditionBuilder()
                                    .withType("Ready")
                                    .withStatus("True")
                                    .withLastTransitionTime(now)
                                    .build(),
                                new PodConditionBuilder()
                                    .withType("ContainersReady")
                                    .withStatus("True")
                                    .withLastTransitionTime(now)
                                    .build())
                            .withContainerStatuses(
                                new ContainerStatusBuilder()
                                    .withName(p.getSpec().getContainers().get(0).getName())
                                    .withImage(p.getSpec().getContainers().get(0).getImage())
                                    .withImageID("")
                                    .withReady(true)
                                    .withStarted(true)
                                    .withRestartCount(0)
                                    .withNewState()
                                    .withNewRunning()
                                    .withStartedAt(now)
                                    .endRunning()
                                    .endState()
                                    .build())
                            .endStatus()
                            .build()));
  }

  private static String envValue(Pod pod, String name) {
    return pod.getSpec().getContainers().get(0).getEnv().stream()
        .filter(e -> e.getName().equals(name))
        .map(EnvVar::getValue)
        .findFirst()
        .orElse(null);
  }

  /** The stand-ins of the pods that are alive now. */
  Map<String, VllmStandIn> live() {
    return Map.copyOf(servers);
  }

  @Override
  public void close() {
    loop.shutdownNow();
    servers.values().forEach(VllmStandIn::close);
  }
}
