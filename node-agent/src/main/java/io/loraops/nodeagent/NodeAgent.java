package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.BindingBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Plays the kubelet (and the scheduler) for one local node: registers the Node, binds pending pods
 * that fit it, runs them as local processes, reports their status, and stops them when they are
 * deleted. Everything happens in one thread, in {@link #sync()}, woken by pod events and a
 * one-second tick.
 */
final class NodeAgent implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(NodeAgent.class);
  private static final long HEARTBEAT_SECONDS = 10;

  /**
   * @param nodeName the Node this agent registers
   * @param root where pod folders (volumes, logs, termination messages) live
   * @param claims where PersistentVolumeClaims live: claim X is the folder {@code claims/X}
   * @param capacity the node's capacity, also its allocatable
   * @param images local commands standing in for image entrypoints, by image repository
   */
  record Settings(
      String nodeName,
      Path root,
      Path claims,
      Map<String, Quantity> capacity,
      Map<String, String> images) {}

  private final KubernetesClient client;
  private final Settings settings;
  private final ScheduledExecutorService loop =
      Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "node-agent"));
  private final Map<String, PodProcess> running = new ConcurrentHashMap<>();
  private final Set<String> reported = ConcurrentHashMap.newKeySet();
  private SharedIndexInformer<Pod> pods;
  private LogServer logs;
  private Instant lastHeartbeat = Instant.EPOCH;

  NodeAgent(KubernetesClient client, Settings settings) {
    this.client = client;
    this.settings = settings;
  }

  void start() throws java.io.IOException {
    Path podDirs = settings.root().resolve("pods");
    logs =
        new LogServer(
            settings.root(),
            podDirs,
            dir ->
                running.values().stream()
                    .anyMatch(
                        p -> p.dir.getFileName().toString().equals(dir) && p.process.isAlive()));
    registerNode();
    pods =
        client
            .pods()
            .inAnyNamespace()
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(Pod pod) {
                    wake();
                  }

                  @Override
                  public void onUpdate(Pod old, Pod pod) {
                    wake();
                  }

                  @Override
                  public void onDelete(Pod pod, boolean unknown) {
                    wake();
                  }
                });
    loop.scheduleWithFixedDelay(this::syncSafely, 0, 1, TimeUnit.SECONDS);
    LOG.info(
        "node {} ready: capacity {}, pods under {}, claims under {}",
        settings.nodeName(),
        settings.capacity(),
        settings.root(),
        settings.claims());
  }

  private void wake() {
    loop.execute(this::syncSafely);
  }

  private void syncSafely() {
    try {
      sync();
    } catch (RuntimeException e) {
      LOG.warn("sync failed, retrying: {}", e.getMessage());
    }
  }

  void sync() {
    List<Pod> all = pods.getStore().list();
    Map<String, Pod> byUid = new java.util.HashMap<>();
    all.forEach(p -> byUid.put(p.getMetadata().getUid(), p));

    // Stop the processes of deleted pods; finish the deletion the way the kubelet does.
    for (Map.Entry<String, PodProcess> e : List.copyOf(running.entrySet())) {
      Pod current = byUid.get(e.getKey());
      if (current == null || current.getMetadata().getDeletionTimestamp() != null) {
        PodProcess p = e.getValue();
        long grace =
            current == null || current.getMetadata().getDeletionGracePeriodSeconds() == null
                ? 5
                : Math.min(30, current.getMetadata().getDeletionGracePeriodSeconds());
        LOG.info(
            "pod {}/{} deleted: stopping its process",
            p.pod.getMetadata().getNamespace(),
            p.pod.getMetadata().getName());
        p.kill(grace);
        running.remove(e.getKey());
        reportTerminated(p, current);
      }
    }
    for (Pod pod : all) {
      if (isMine(pod)
          && pod.getMetadata().getDeletionTimestamp() != null
          && !running.containsKey(pod.getMetadata().getUid())) {
        forceDelete(pod);
      }
    }

    // Processes that ended, or outgrew their memory limit.
    for (Map.Entry<String, PodProcess> e : List.copyOf(running.entrySet())) {
      PodProcess p = e.getValue();
      if (p.process.isAlive()
          && p.memoryLimitBytes != null
          && p.residentBytes() > p.memoryLimitBytes) {
        LOG.info(
            "pod {}/{} exceeded its memory limit: killing it",
            p.pod.getMetadata().getNamespace(),
            p.pod.getMetadata().getName());
        p.killForMemory();
      }
      if (!p.process.isAlive()) {
        running.remove(e.getKey());
        reportTerminated(p, byUid.get(e.getKey()));
      }
    }

    // Start pods bound here; pods this agent ran before it restarted cannot be re-attached.
    for (Pod pod : all) {
      String uid = pod.getMetadata().getUid();
      if (!isMine(pod)
          || pod.getMetadata().getDeletionTimestamp() != null
          || running.containsKey(uid)
          || reported.contains(uid)) {
        continue;
      }
      String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
      if ("Running".equals(phase)) {
        reportLost(pod);
      } else if (phase == null || "Pending".equals(phase)) {
        startPod(pod);
      }
    }

    bindPendingPods(all);
    heartbeat();
  }

  private void bindPendingPods(List<Pod> all) {
    List<Pod> mine =
        all.stream()
            .filter(this::isMine)
            .filter(
                p ->
                    p.getStatus() == null
                        || !List.of("Succeeded", "Failed").contains(p.getStatus().getPhase()))
            .collect(java.util.stream.Collectors.toCollection(ArrayList::new));
    List<Pod> pending =
        all.stream()
            .filter(p -> p.getSpec().getNodeName() == null || p.getSpec().getNodeName().isEmpty())
            .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
            .filter(
                p ->
                    p.getSpec().getSchedulerName() == null
                        || "default-scheduler".equals(p.getSpec().getSchedulerName()))
            .sorted(
                Comparator.comparing((Pod p) -> p.getMetadata().getCreationTimestamp())
                    .thenComparing(p -> p.getMetadata().getName()))
            .toList();
    Map<String, String> nodeLabels = nodeLabels();
    for (Pod pod : pending) {
      String why = Resources.whyNotFit(pod, mine, settings.capacity(), nodeLabels);
      if (why == null) {
        client
            .bindings()
            .inNamespace(pod.getMetadata().getNamespace())
            .resource(
                new BindingBuilder()
                    .withNewMetadata()
                    .withName(pod.getMetadata().getName())
                    .withNamespace(pod.getMetadata().getNamespace())
                    .endMetadata()
                    .withTarget(
                        new ObjectReferenceBuilder()
                            .withKind("Node")
                            .withApiVersion("v1")
                            .withName(settings.nodeName())
                            .build())
                    .build())
            .create();
        mine.add(pod);
        LOG.info("bound {}/{}", pod.getMetadata().getNamespace(), pod.getMetadata().getName());
      } else {
        markUnschedulable(pod, why);
      }
    }
  }

  private void startPod(Pod pod) {
    String uid = pod.getMetadata().getUid();
    try {
      PodProcess p = PodProcess.start(pod, settings, client);
      running.put(uid, p);
      LOG.info(
          "started {}/{}: pid {}, log {}",
          pod.getMetadata().getNamespace(),
          pod.getMetadata().getName(),
          p.process.pid(),
          p.log);
      String now = p.startedAt.toString();
      updateStatus(
          pod,
          b ->
              b.editOrNewStatus()
                  .withPhase("Running")
                  .withHostIP("127.0.0.1")
                  .withPodIP("127.0.0.1")
                  .withStartTime(now)
                  .withConditions(conditions(pod, now, true))
                  .withContainerStatuses(
                      new ContainerStatusBuilder()
                          .withName(p.container.getName())
                          .withImage(p.container.getImage())
                          .withImageID("local://" + p.container.getImage())
                          .withContainerID("local://" + p.process.pid())
                          .withReady(true)
                          .withStarted(true)
                          .withRestartCount(0)
                          .withNewState()
                          .withNewRunning()
                          .withStartedAt(now)
                          .endRunning()
                          .endState()
                          .build())
                  .endStatus());
    } catch (PodProcess.Unrunnable e) {
      reported.add(uid);
      LOG.warn(
          "cannot run {}/{}: {}",
          pod.getMetadata().getNamespace(),
          pod.getMetadata().getName(),
          e.getMessage());
      terminate(
          pod, 128, e.reason, e.getMessage(), Instant.now().toString(), Instant.now().toString());
    } catch (java.io.IOException e) {
      reported.add(uid);
      terminate(
          pod,
          128,
          "StartError",
          e.getMessage(),
          Instant.now().toString(),
          Instant.now().toString());
    }
  }

  private void reportTerminated(PodProcess p, Pod current) {
    reported.add(p.pod.getMetadata().getUid());
    if (current == null) {
      return;
    }
    int exit = p.oomKilled ? 137 : p.process.exitValue();
    String reason = p.oomKilled ? "OOMKilled" : exit == 0 ? "Completed" : "Error";
    LOG.info(
        "pod {}/{} exited {} ({})",
        current.getMetadata().getNamespace(),
        current.getMetadata().getName(),
        exit,
        reason);
    terminate(
        current,
        exit,
        reason,
        p.terminationMessage(exit),
        p.startedAt.toString(),
        Instant.now().toString());
  }

  private void reportLost(Pod pod) {
    reported.add(pod.getMetadata().getUid());
    String now = Instant.now().toString();
    terminate(
        pod,
        137,
        "ContainerStatusUnknown",
        "the node agent restarted and lost this container",
        now,
        now);
  }

  private void terminate(
      Pod pod, int exitCode, String reason, String message, String startedAt, String finishedAt) {
    var container = pod.getSpec().getContainers().get(0);
    ContainerStatus status =
        new ContainerStatusBuilder()
            .withName(container.getName())
            .withImage(container.getImage())
            .withImageID("local://" + container.getImage())
            .withReady(false)
            .withStarted(false)
            .withRestartCount(0)
            .withNewState()
            .withNewTerminated()
            .withExitCode(exitCode)
            .withReason(reason)
            .withMessage(message)
            .withStartedAt(startedAt)
            .withFinishedAt(finishedAt)
            .endTerminated()
            .endState()
            .build();
    updateStatus(
        pod,
        b ->
            b.editOrNewStatus()
                .withPhase(exitCode == 0 ? "Succeeded" : "Failed")
                .withHostIP("127.0.0.1")
                .withConditions(conditions(pod, finishedAt, false))
                .withContainerStatuses(status)
                .endStatus());
  }

  private List<PodCondition> conditions(Pod pod, String now, boolean ready) {
    String r = ready ? "True" : "False";
    return List.of(
        new PodConditionBuilder()
            .withType("PodScheduled")
            .withStatus("True")
            .withLastTransitionTime(now)
            .build(),
        new PodConditionBuilder()
            .withType("Initialized")
            .withStatus("True")
            .withLastTransitionTime(now)
            .build(),
        new PodConditionBuilder()
            .withType("ContainersReady")
            .withStatus(r)
            .withLastTransitionTime(now)
            .build(),
        new PodConditionBuilder()
            .withType("Ready")
            .withStatus(r)
            .withLastTransitionTime(now)
            .build());
  }

  private void markUnschedulable(Pod pod, String why) {
    boolean already =
        pod.getStatus() != null
            && pod.getStatus().getConditions() != null
            && pod.getStatus().getConditions().stream()
                .anyMatch(c -> "PodScheduled".equals(c.getType()) && why.equals(c.getMessage()));
    if (!already) {
      updateStatus(
          pod,
          b ->
              b.editOrNewStatus()
                  .withPhase("Pending")
                  .withConditions(
                      new PodConditionBuilder()
                          .withType("PodScheduled")
                          .withStatus("False")
                          .withReason("Unschedulable")
                          .withMessage(why)
                          .withLastTransitionTime(Instant.now().toString())
                          .build())
                  .endStatus());
    }
  }

  /**
   * Edits a pod's status, re-reading it after a conflict: the Job controller changes trial pods too
   * (finalizers), and a final status once reported is never reported again.
   */
  private void updateStatus(Pod pod, UnaryOperator<PodBuilder> edit) {
    for (int attempt = 1; ; attempt++) {
      try {
        client
            .pods()
            .inNamespace(pod.getMetadata().getNamespace())
            .withName(pod.getMetadata().getName())
            .editStatus(p -> edit.apply(new PodBuilder(p)).build());
        return;
      } catch (KubernetesClientException e) {
        if (e.getCode() == 404) {
          return;
        }
        if (e.getCode() != 409 || attempt == 10) {
          throw e;
        }
      }
    }
  }

  private void forceDelete(Pod pod) {
    try {
      client
          .pods()
          .inNamespace(pod.getMetadata().getNamespace())
          .withName(pod.getMetadata().getName())
          .withGracePeriod(0)
          .delete();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404) {
        throw e;
      }
    }
  }

  private boolean isMine(Pod pod) {
    return settings.nodeName().equals(pod.getSpec().getNodeName());
  }

  private Map<String, String> nodeLabels() {
    return Map.of(
        "kubernetes.io/hostname",
        settings.nodeName(),
        "kubernetes.io/os",
        "linux",
        "node.kubernetes.io/instance-type",
        "local",
        "loraops.io/local-node",
        "true");
  }

  private void registerNode() {
    Node node =
        new NodeBuilder()
            .withNewMetadata()
            .withName(settings.nodeName())
            .withLabels(nodeLabels())
            .endMetadata()
            .build();
    if (client.nodes().withName(settings.nodeName()).get() == null) {
      client.nodes().resource(node).create();
    }
    heartbeat();
  }

  private void heartbeat() {
    Instant now = Instant.now();
    if (now.isBefore(lastHeartbeat.plusSeconds(HEARTBEAT_SECONDS))) {
      return;
    }
    lastHeartbeat = now;
    String ts = now.toString();
    List<NodeCondition> conditions =
        List.of(
            condition(
                "Ready", "True", "KubeletReady", "local node agent is posting ready status", ts),
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "", ts),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "", ts),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "", ts));
    // A merge patch of the status alone, with no resourceVersion: kube-controller-manager updates
    // the Node too (taints, annotations), and a heartbeat must never lose to it on a conflict.
    client
        .nodes()
        .resource(
            new NodeBuilder()
                .withNewMetadata()
                .withName(settings.nodeName())
                .endMetadata()
                .withNewStatus()
                .withCapacity(settings.capacity())
                .withAllocatable(settings.capacity())
                .withConditions(conditions)
                // Only the loopback address: the API server reaches the log endpoint through it
                // and never
                // needs to resolve a host name.
                .withAddresses(
                    List.of(
                        new io.fabric8.kubernetes.api.model.NodeAddress("127.0.0.1", "InternalIP")))
                .withNewDaemonEndpoints()
                .withNewKubeletEndpoint()
                .withPort(logs.port())
                .endKubeletEndpoint()
                .endDaemonEndpoints()
                .withNewNodeInfo()
                .withArchitecture("amd64")
                .withOperatingSystem("linux")
                .withKubeletVersion("v1.36.3-lora-local")
                .withKubeProxyVersion("")
                .withContainerRuntimeVersion("local://lora-node-agent")
                .withOsImage("local")
                .withKernelVersion(System.getProperty("os.version"))
                .withMachineID(settings.nodeName())
                .withSystemUUID(settings.nodeName())
                .withBootID(settings.nodeName())
                .endNodeInfo()
                .endStatus()
                .build())
        .patchStatus();
  }

  private static NodeCondition condition(
      String type, String status, String reason, String message, String now) {
    return new NodeConditionBuilder()
        .withType(type)
        .withStatus(status)
        .withReason(reason)
        .withMessage(message)
        .withLastHeartbeatTime(now)
        .withLastTransitionTime(now)
        .build();
  }

  @Override
  public void close() {
    loop.shutdownNow();
    if (logs != null) {
      logs.close();
    }
    if (pods != null) {
      pods.close();
    }
    running.values().forEach(p -> p.kill(5));
  }
}
