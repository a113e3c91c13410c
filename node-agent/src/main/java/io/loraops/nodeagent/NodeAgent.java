package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.BindingBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.loraops.nodeagent.PodStatuses.Termination;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Plays the kubelet (and the scheduler) for one local node: registers the Node, binds pending pods
 * that fit it, runs them as local processes ({@link PodRuntime}: restarts, probes, back-off),
 * reports their status, and stops them when they are deleted. Everything that changes pod state
 * happens in one thread, in {@link #sync()}, woken by pod events, probe results and a one-second
 * tick; probes run on their own threads and hand their results to it.
 *
 * <p>Each pod gets its own loopback address ({@link PodIps}), so servers of several pods can listen
 * on the same port.
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
  private final ScheduledExecutorService probeThreads =
      Executors.newScheduledThreadPool(
          2,
          r -> {
            Thread t = new Thread(r, "node-agent-probe");
            t.setDaemon(true);
            return t;
          });

  /** The pods this agent runs, by uid. */
  private final Map<String, PodRuntime> runtimes = new ConcurrentHashMap<>();

  /** Pods whose final status has been reported, by uid: never started again. */
  private final Set<String> reported = ConcurrentHashMap.newKeySet();

  /**
   * IPs of pods lost in a restart of the agent: their processes may still run and hold them, so
   * they are not handed out again while this agent runs.
   */
  private final Set<String> lostIps = new HashSet<>();

  private String lastIp;
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
                runtimes.values().stream().anyMatch(r -> r.dirName().equals(dir) && r.running()));
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
    try {
      loop.execute(this::syncSafely);
    } catch (RejectedExecutionException e) {
      // Shutting down.
    }
  }

  private void syncSafely() {
    try {
      sync();
    } catch (RuntimeException e) {
      LOG.warn("sync failed, retrying: {}", e.toString());
    }
  }

  void sync() {
    Instant now = Instant.now();
    List<Pod> all = pods.getStore().list();
    Map<String, Pod> byUid = new HashMap<>();
    all.forEach(p -> byUid.put(p.getMetadata().getUid(), p));

    // 1. Deleted pods: SIGTERM to their containers now, SIGKILL after the grace period.
    for (PodRuntime r : runtimes.values()) {
      Pod current = byUid.get(r.uid);
      if ((current == null || current.getMetadata().getDeletionTimestamp() != null)
          && !r.stopping()) {
        LOG.info("pod {} deleted: stopping its container", r.name());
        r.stop(now, deletionGrace(r.pod, current));
      }
    }

    // 2. Start pods bound here; pods this agent ran before it restarted cannot be re-attached.
    for (Pod pod : all) {
      String uid = pod.getMetadata().getUid();
      if (!isMine(pod)
          || pod.getMetadata().getDeletionTimestamp() != null
          || runtimes.containsKey(uid)
          || reported.contains(uid)) {
        continue;
      }
      String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
      if ("Running".equals(phase)) {
        reportLost(pod);
      } else if (phase == null || "Pending".equals(phase)) {
        startPod(pod, all, now);
      }
    }

    // 3. Every pod moves on (exits reaped, restarts after back-off, limits enforced) and reports
    // its status when it changed; a pod that is done reports its final status once and is dropped,
    // which frees its IP.
    for (PodRuntime r : List.copyOf(runtimes.values())) {
      r.tick(now);
      Pod current = byUid.get(r.uid);
      boolean written = current == null || writeStatus(r, current, now);
      if (r.done() && written) {
        runtimes.remove(r.uid);
        reported.add(r.uid);
      }
    }

    // 4. Finish deletions, as the kubelet does: a deleted pod that runs nothing here goes for good.
    for (Pod pod : all) {
      if (isMine(pod)
          && pod.getMetadata().getDeletionTimestamp() != null
          && !runtimes.containsKey(pod.getMetadata().getUid())) {
        forceDelete(pod);
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
        if (bind(pod)) {
          LOG.info("bound {}/{}", pod.getMetadata().getNamespace(), pod.getMetadata().getName());
        }
        // Counted either way: bound now, or by an earlier sync the informer has not caught up with.
        mine.add(pod);
      } else {
        markUnschedulable(pod, why);
      }
    }
  }

  /**
   * Binds {@code pod} to this node. Returns false when it was bound already: a sync woken by an
   * event can run before the informer has seen this agent's own binding.
   */
  private boolean bind(Pod pod) {
    try {
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
      return true;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) {
        return false;
      }
      throw e;
    }
  }

  private void startPod(Pod pod, List<Pod> all, Instant now) {
    if (pod.getSpec().getContainers().size() != 1) {
      reported.add(pod.getMetadata().getUid());
      finalStatus(
          pod,
          null,
          new Termination(
              128,
              "UnsupportedPod",
              "the local node agent runs single-container pods only",
              now.toString(),
              now.toString(),
              null));
      return;
    }
    String ip = PodIps.next(ipsInUse(all), lastIp);
    lastIp = ip;
    PodRuntime r =
        new PodRuntime(
            pod,
            ip,
            now,
            (p, podIp) -> PodProcess.prepare(p, settings, client, podIp),
            this::startProbes);
    runtimes.put(r.uid, r);
    r.start(now);
  }

  /**
   * The addresses a new pod must not get: those of the pods this agent runs, of non-terminal pods
   * bound here (read from the API server, so that a restarted agent never hands out the address of
   * a pod whose process may still run) and of pods it lost.
   */
  private Set<String> ipsInUse(List<Pod> all) {
    Set<String> used = new HashSet<>(lostIps);
    runtimes.values().forEach(r -> used.add(r.ip));
    for (Pod pod : all) {
      var status = pod.getStatus();
      if (!isMine(pod) || status == null || isTerminal(pod)) {
        continue;
      }
      if (status.getPodIP() != null) {
        used.add(status.getPodIP());
      }
      if (status.getPodIPs() != null) {
        status.getPodIPs().forEach(ip -> used.add(ip.getIp()));
      }
    }
    return used;
  }

  private static boolean isTerminal(Pod pod) {
    return pod.getStatus() != null
        && List.of("Succeeded", "Failed").contains(pod.getStatus().getPhase());
  }

  /** Schedules a run's probes on the probe threads; their results go to the sync thread. */
  private Map<ProbeSpec.Kind, Future<?>> startProbes(
      PodRuntime r, PodProcess.Run run, List<ProbeSpec> specs, Prober.Target target) {
    Map<ProbeSpec.Kind, Future<?>> tasks = new EnumMap<>(ProbeSpec.Kind.class);
    for (ProbeSpec spec : specs) {
      Runnable probe =
          () -> {
            if (!run.alive()) {
              return;
            }
            Prober.Result result;
            try {
              result = Prober.check(spec, target);
            } catch (RuntimeException e) {
              result = new Prober.Result(false, e.toString());
            }
            Prober.Result checked = result;
            try {
              loop.execute(() -> onProbe(r, spec, run, checked));
            } catch (RejectedExecutionException e) {
              // Shutting down.
            }
          };
      tasks.put(
          spec.kind(),
          probeThreads.scheduleWithFixedDelay(
              probe,
              spec.initialDelay().toMillis(),
              spec.period().toMillis(),
              TimeUnit.MILLISECONDS));
    }
    return tasks;
  }

  private void onProbe(PodRuntime r, ProbeSpec spec, PodProcess.Run run, Prober.Result result) {
    if (runtimes.get(r.uid) == r && r.onProbe(spec, run, result, Instant.now())) {
      syncSafely();
    }
  }

  /**
   * Writes the pod's status if it differs from the last one written. Returns false when the write
   * failed (it is tried again on the next sync).
   */
  private boolean writeStatus(PodRuntime r, Pod pod, Instant now) {
    PodStatus desired = r.status(now);
    if (desired == null || desired.equals(r.lastWritten)) {
      return true;
    }
    try {
      updateStatus(pod, current -> PodStatuses.merge(current, desired));
      r.lastWritten = desired;
      return true;
    } catch (KubernetesClientException e) {
      LOG.warn("cannot write the status of pod {}, retrying: {}", r.name(), e.getMessage());
      return false;
    }
  }

  private void reportLost(Pod pod) {
    reported.add(pod.getMetadata().getUid());
    if (pod.getStatus().getPodIP() != null) {
      lostIps.add(pod.getStatus().getPodIP());
    }
    String now = Instant.now().toString();
    finalStatus(
        pod,
        pod.getStatus().getPodIP(),
        new Termination(
            137,
            "ContainerStatusUnknown",
            "the node agent restarted and lost this container",
            now,
            now,
            null));
  }

  /** Reports a pod the agent does not run as ended so. */
  private void finalStatus(Pod pod, String podIp, Termination end) {
    var container = pod.getSpec().getContainers().get(0);
    int restarts =
        pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null
            ? 0
            : pod.getStatus().getContainerStatuses().stream()
                .mapToInt(c -> c.getRestartCount() == null ? 0 : c.getRestartCount())
                .max()
                .orElse(0);
    PodStatus status =
        PodStatuses.status(
            end.exitCode() == 0 ? "Succeeded" : "Failed",
            podIp,
            pod.getStatus() == null || pod.getStatus().getStartTime() == null
                ? end.startedAt()
                : pod.getStatus().getStartTime(),
            PodStatuses.terminated(container, restarts, end, null),
            pod.getStatus(),
            end.finishedAt());
    updateStatus(pod, current -> PodStatuses.merge(current, status));
  }

  /**
   * How long a deleted pod's container gets between SIGTERM and SIGKILL: the deletion's grace
   * period, else the pod's terminationGracePeriodSeconds, capped at {@link PodRuntime#MAX_GRACE}.
   */
  private static Duration deletionGrace(Pod started, Pod current) {
    Long seconds =
        current != null && current.getMetadata().getDeletionGracePeriodSeconds() != null
            ? current.getMetadata().getDeletionGracePeriodSeconds()
            : started.getSpec().getTerminationGracePeriodSeconds();
    return PodRuntime.grace(seconds);
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
          status ->
              new PodStatusBuilder(status == null ? new PodStatus() : status)
                  .withPhase("Pending")
                  .withConditions(
                      new PodConditionBuilder()
                          .withType("PodScheduled")
                          .withStatus("False")
                          .withReason("Unschedulable")
                          .withMessage(why)
                          .withLastTransitionTime(Instant.now().toString())
                          .build())
                  .build());
    }
  }

  /**
   * Edits a pod's status, re-reading it after a conflict: the Job controller changes trial pods too
   * (finalizers), and a final status once reported is never reported again.
   */
  private void updateStatus(Pod pod, UnaryOperator<PodStatus> edit) {
    for (int attempt = 1; ; attempt++) {
      try {
        client
            .pods()
            .inNamespace(pod.getMetadata().getNamespace())
            .withName(pod.getMetadata().getName())
            .editStatus(p -> new PodBuilder(p).withStatus(edit.apply(p.getStatus())).build());
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
    probeThreads.shutdownNow();
    if (logs != null) {
      logs.close();
    }
    if (pods != null) {
      pods.close();
    }
    // SIGTERM to every container at once, then up to 5s for all of them before SIGKILL.
    Duration grace = Duration.ofSeconds(5);
    List<PodProcess.Run> runs =
        runtimes.values().stream().map(PodRuntime::current).filter(Objects::nonNull).toList();
    runs.forEach(run -> run.stop(Instant.now(), grace));
    Instant deadline = Instant.now().plus(grace);
    for (PodProcess.Run run : runs) {
      try {
        long left = Math.max(0, Duration.between(Instant.now(), deadline).toMillis());
        run.process.waitFor(left, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      run.enforceGracePeriod(deadline);
      run.killLeftovers();
    }
  }
}
