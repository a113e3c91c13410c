package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * One pod's container, prepared to run as a local process: its volumes materialized as local
 * folders, its paths rewritten to those folders, its command line and environment computed the way
 * the kubelet computes them. Each {@link #launch} starts one {@link Run} of it; its output goes to
 * {@code <pod dir>/<container>.log}, and a restart moves the previous run's output to {@code
 * <container>.previous.log} ({@code kubectl logs --previous}).
 */
final class PodProcess {

  /** Kubernetes keeps at most this much of a termination message. */
  static final int MAX_TERMINATION_MESSAGE = 4096;

  /** A pod the agent cannot run, with the reason to report. */
  static final class Unrunnable extends Exception {
    final String reason;

    Unrunnable(String reason, String message) {
      super(message);
      this.reason = reason;
    }
  }

  final Pod pod;
  final Container container;
  final Path dir;
  final Path log;
  final Path previousLog;
  final Path terminationLog;
  final List<String> command;

  /** What the agent adds to its own environment for the process: the container's, rewritten. */
  final Map<String, String> env;

  final PodPaths paths;
  final Long memoryLimitBytes;

  private PodProcess(
      Pod pod,
      Container container,
      Path dir,
      Path terminationLog,
      List<String> command,
      Map<String, String> env,
      PodPaths paths,
      Long memoryLimitBytes) {
    this.pod = pod;
    this.container = container;
    this.dir = dir;
    this.log = logFile(dir, container.getName(), false);
    this.previousLog = logFile(dir, container.getName(), true);
    this.terminationLog = terminationLog;
    this.command = List.copyOf(command);
    this.env = Map.copyOf(env);
    this.paths = paths;
    this.memoryLimitBytes = memoryLimitBytes;
  }

  /** The log of a container's current ({@code previous} false) or previous run. */
  static Path logFile(Path podDir, String container, boolean previous) {
    return podDir.resolve(container + (previous ? ".previous.log" : ".log"));
  }

  /**
   * Prepares {@code pod}'s container to run with the IP {@code podIp}: materializes its volumes and
   * computes its command line and environment. Starts nothing.
   */
  static PodProcess prepare(
      Pod pod, NodeAgent.Settings settings, KubernetesClient client, String podIp)
      throws IOException, Unrunnable {
    if (pod.getSpec().getContainers().size() != 1) {
      throw new Unrunnable(
          "UnsupportedPod", "the local node agent runs single-container pods only");
    }
    Container container = pod.getSpec().getContainers().get(0);
    Path dir =
        settings
            .root()
            .resolve("pods")
            .resolve(pod.getMetadata().getNamespace() + "_" + pod.getMetadata().getName());
    Files.createDirectories(dir);

    // 1. A local folder (or file) behind every volume.
    Map<String, Path> volumes = new HashMap<>();
    Map<String, ConfigMap> configMaps = new HashMap<>();
    for (Volume v :
        pod.getSpec().getVolumes() == null ? List.<Volume>of() : pod.getSpec().getVolumes()) {
      if (v.getPersistentVolumeClaim() != null) {
        volumes.put(
            v.getName(), settings.claims().resolve(v.getPersistentVolumeClaim().getClaimName()));
      } else if (v.getHostPath() != null) {
        volumes.put(v.getName(), Path.of(v.getHostPath().getPath()));
      } else if (v.getEmptyDir() != null || v.getProjected() != null) {
        // Projected volumes (service account tokens) are left empty: local processes get no
        // credentials from the agent.
        volumes.put(v.getName(), dir.resolve("volumes").resolve(v.getName()));
      } else if (v.getConfigMap() != null) {
        ConfigMap cm =
            client
                .configMaps()
                .inNamespace(pod.getMetadata().getNamespace())
                .withName(v.getConfigMap().getName())
                .get();
        if (cm == null) {
          throw new Unrunnable(
              "CreateContainerConfigError",
              "configmap \"" + v.getConfigMap().getName() + "\" not found");
        }
        configMaps.put(v.getName(), cm);
        volumes.put(v.getName(), dir.resolve("volumes").resolve(v.getName()));
      } else {
        throw new Unrunnable(
            "UnsupportedVolume",
            "volume "
                + v.getName()
                + ": the local node agent supports persistentVolumeClaim, hostPath, emptyDir, projected (left empty) and configMap");
      }
    }
    for (Map.Entry<String, Path> v : volumes.entrySet()) {
      boolean isFile = Files.isRegularFile(v.getValue());
      if (!isFile) {
        Files.createDirectories(v.getValue());
      }
    }

    // 2. Container paths -> local paths.
    PodPaths paths = new PodPaths();
    Map<String, Path> pathMap = new LinkedHashMap<>();
    for (VolumeMount m :
        container.getVolumeMounts() == null
            ? List.<VolumeMount>of()
            : container.getVolumeMounts()) {
      Path local = volumes.get(m.getName());
      if (local == null) {
        throw new Unrunnable(
            "CreateContainerConfigError", "volumeMount " + m.getName() + " names no volume");
      }
      Path mounted =
          (m.getSubPath() == null || m.getSubPath().isEmpty()
                  ? local
                  : local.resolve(m.getSubPath()))
              .toAbsolutePath()
              .normalize();
      paths.mount(m.getMountPath(), mounted);
      pathMap.put(PodPaths.normalize(m.getMountPath()), mounted);
    }
    String terminationPath =
        container.getTerminationMessagePath() == null
            ? "/dev/termination-log"
            : container.getTerminationMessagePath();
    Path terminationLog = dir.resolve("termination-log");
    Files.writeString(terminationLog, "");
    paths.mount(terminationPath, terminationLog);

    // 3. ConfigMap files, with their paths rewritten too (a config file names mount paths).
    for (Map.Entry<String, ConfigMap> e : configMaps.entrySet()) {
      Path target = volumes.get(e.getKey());
      Map<String, String> data = e.getValue().getData() == null ? Map.of() : e.getValue().getData();
      for (Map.Entry<String, String> file : data.entrySet()) {
        Files.writeString(
            target.resolve(file.getKey()), paths.rewrite(file.getValue()), StandardCharsets.UTF_8);
      }
    }

    // 4. Environment, then the command line with $(VAR) references expanded, as the kubelet does;
    // paths are rewritten last, once, in the final strings.
    Map<String, String> containerEnv;
    try {
      containerEnv = PodEnv.resolve(pod, container, podIp, settings.capacity(), refs(client, pod));
    } catch (IllegalArgumentException e) {
      throw new Unrunnable("CreateContainerConfigError", e.getMessage());
    }
    List<String> command = new ArrayList<>();
    if (container.getCommand() != null && !container.getCommand().isEmpty()) {
      container
          .getCommand()
          .forEach(c -> command.add(paths.rewrite(PodEnv.expand(c, containerEnv))));
    } else {
      String entrypoint = settings.images().get(repository(container.getImage()));
      if (entrypoint == null) {
        throw new Unrunnable(
            "ErrImagePull",
            "image "
                + container.getImage()
                + " has no local command: start the node agent with --image "
                + repository(container.getImage())
                + "=<command>");
      }
      command.addAll(List.of(entrypoint.trim().split("\\s+")));
    }
    if (container.getArgs() != null) {
      container.getArgs().forEach(a -> command.add(paths.rewrite(PodEnv.expand(a, containerEnv))));
    }
    Map<String, String> env = new LinkedHashMap<>();
    containerEnv.forEach((k, v) -> env.put(k, paths.rewrite(v)));
    env.put(PodEnv.PATH_MAP_ENV, PodEnv.pathMapJson(pathMap));

    for (ProbeSpec probe : ProbeSpec.of(container)) {
      if (probe.probe().getGrpc() != null) {
        throw new Unrunnable(
            "CreateContainerConfigError",
            probe.kind().display
                + " probe: grpc probes are not supported by the local node agent; use httpGet,"
                + " tcpSocket or exec");
      }
    }
    Long memoryLimit =
        limit(container, "memory").map(q -> q.getNumericalAmount().longValue()).orElse(null);
    return new PodProcess(pod, container, dir, terminationLog, command, env, paths, memoryLimit);
  }

  /**
   * Starts run number {@code number} (0 first, then one more per restart). A restart moves the log
   * of the run before to {@link #previousLog} and empties the termination message file.
   */
  Run launch(int number) throws IOException {
    if (number > 0 && Files.exists(log)) {
      Files.move(log, previousLog, StandardCopyOption.REPLACE_EXISTING);
    }
    Files.writeString(terminationLog, "");
    ProcessBuilder builder =
        new ProcessBuilder(command)
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            // A container's stdin is closed unless the pod asks for one.
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    builder.environment().putAll(env);
    return new Run(builder.start(), number, memoryLimitBytes);
  }

  /** What this container's probes run against. */
  Prober.Target probeTarget(String podIp) {
    return new Prober.Target(podIp, container.getPorts(), env, dir, paths);
  }

  /** ConfigMaps and Secrets for the environment, read from the API server. */
  private static PodEnv.Refs refs(KubernetesClient client, Pod pod) {
    String ns = pod.getMetadata().getNamespace();
    return new PodEnv.Refs() {
      @Override
      public Map<String, String> configMap(String name) {
        ConfigMap cm = client.configMaps().inNamespace(ns).withName(name).get();
        if (cm == null) {
          return null;
        }
        return cm.getData() == null ? Map.of() : cm.getData();
      }

      @Override
      public Map<String, String> secret(String name) {
        Secret s = client.secrets().inNamespace(ns).withName(name).get();
        if (s == null) {
          return null;
        }
        Map<String, String> data = new LinkedHashMap<>();
        if (s.getData() != null) {
          s.getData()
              .forEach(
                  (k, b64) ->
                      data.put(
                          k, new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8)));
        }
        if (s.getStringData() != null) {
          data.putAll(s.getStringData());
        }
        return data;
      }
    };
  }

  /** The termination message as the kubelet would report it. */
  String terminationMessage(int exitCode) {
    String message = readCapped(terminationLog, MAX_TERMINATION_MESSAGE);
    if (message.isBlank()
        && exitCode != 0
        && "FallbackToLogsOnError".equals(container.getTerminationMessagePolicy())) {
      List<String> lines = readLines(log);
      String tail = String.join("\n", lines.subList(Math.max(0, lines.size() - 80), lines.size()));
      message = tail.length() > 2048 ? tail.substring(tail.length() - 2048) : tail;
    }
    return message;
  }

  private static java.util.Optional<Quantity> limit(Container c, String name) {
    return c.getResources() == null || c.getResources().getLimits() == null
        ? java.util.Optional.empty()
        : java.util.Optional.ofNullable(c.getResources().getLimits().get(name));
  }

  static String repository(String image) {
    String withoutDigest = image.contains("@") ? image.substring(0, image.indexOf('@')) : image;
    int colon = withoutDigest.lastIndexOf(':');
    return colon > withoutDigest.lastIndexOf('/')
        ? withoutDigest.substring(0, colon)
        : withoutDigest;
  }

  private static long rssOf(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // The process ended between listing and reading.
    }
    return 0;
  }

  private static String readCapped(Path file, int max) {
    try {
      byte[] bytes = Files.readAllBytes(file);
      return new String(bytes, 0, Math.min(bytes.length, max), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  private static List<String> readLines(Path file) {
    try {
      return Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return List.of();
    }
  }

  /**
   * One run of the container: a process and the processes it started. Stopping is two-step, as the
   * kubelet does it: SIGTERM to the tree now, SIGKILL once the grace period has passed, which the
   * agent's loop checks with {@link #enforceGracePeriod} so that it never waits.
   */
  static final class Run {
    /** Remembered descendants at most; a process tree larger than this is not fully tracked. */
    private static final int MAX_TRACKED = 256;

    final Process process;
    final int number;
    final Instant startedAt = Instant.now();
    private final Long memoryLimitBytes;
    private final Set<ProcessHandle> tracked = new LinkedHashSet<>();
    private volatile boolean oomKilled;
    private Instant killAt;

    Run(Process process, int number, Long memoryLimitBytes) {
      this.process = process;
      this.number = number;
      this.memoryLimitBytes = memoryLimitBytes;
    }

    String containerId() {
      return "local://" + process.pid();
    }

    boolean alive() {
      return process.isAlive();
    }

    boolean oomKilled() {
      return oomKilled;
    }

    boolean stopping() {
      return killAt != null;
    }

    /**
     * Remembers the process's descendants, so that those it leaves behind when it exits (they are
     * re-parented and no longer its descendants then) are stopped with it; kills the tree when it
     * outgrew its memory limit. Returns true when it did.
     */
    boolean check() {
      List<ProcessHandle> now = process.descendants().toList();
      tracked.removeIf(h -> !h.isAlive());
      for (ProcessHandle h : now) {
        if (tracked.size() < MAX_TRACKED) {
          tracked.add(h);
        }
      }
      if (memoryLimitBytes != null && !oomKilled && process.isAlive()) {
        long rss = rssOf(process.pid()) + now.stream().mapToLong(h -> rssOf(h.pid())).sum();
        if (rss > memoryLimitBytes) {
          oomKilled = true;
          killTree();
          return true;
        }
      }
      return false;
    }

    /**
     * SIGTERM to the process tree; SIGKILL after {@code grace} (see {@link #enforceGracePeriod}).
     */
    void stop(Instant now, Duration grace) {
      Instant deadline = now.plus(grace);
      if (killAt == null || deadline.isBefore(killAt)) {
        killAt = deadline;
      }
      tree().forEach(ProcessHandle::destroy);
      if (grace.isZero()) {
        killTree();
      }
    }

    /** SIGKILL to what is left of the tree once the grace period of {@link #stop} has passed. */
    void enforceGracePeriod(Instant now) {
      if (killAt != null && !now.isBefore(killAt)) {
        killTree();
      }
    }

    /** Kills the processes this run left behind after it exited. */
    void killLeftovers() {
      tracked.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
    }

    /** Stops the tree and waits for it: SIGTERM, SIGKILL after {@code grace}. For shutdown. */
    void stopAndWait(Duration grace) {
      stop(Instant.now(), grace);
      try {
        if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
          killTree();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        killTree();
      }
      killLeftovers();
    }

    private void killTree() {
      tree().forEach(ProcessHandle::destroyForcibly);
    }

    private List<ProcessHandle> tree() {
      Set<ProcessHandle> all = new LinkedHashSet<>(tracked);
      process.descendants().forEach(all::add);
      all.add(process.toHandle());
      return List.copyOf(all);
    }

    /** How the run ended; call once the process has exited. */
    PodStatuses.Termination termination(PodProcess container, Instant finishedAt) {
      int exit = oomKilled ? 137 : process.exitValue();
      String reason = oomKilled ? "OOMKilled" : exit == 0 ? "Completed" : "Error";
      return new PodStatuses.Termination(
          exit,
          reason,
          container.terminationMessage(exit),
          startedAt.toString(),
          finishedAt.toString(),
          containerId());
    }
  }
}
