package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One pod's container, run as a local process: its volumes materialized as local folders, its paths
 * rewritten to those folders, its output kept in {@code <pod dir>/<container>.log}.
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
  final Path terminationLog;
  final Process process;
  final Instant startedAt;
  final Long memoryLimitBytes;
  volatile boolean oomKilled;

  private PodProcess(
      Pod pod,
      Container container,
      Path dir,
      Path terminationLog,
      Process process,
      Long memoryLimitBytes) {
    this.pod = pod;
    this.container = container;
    this.dir = dir;
    this.log = dir.resolve(container.getName() + ".log");
    this.terminationLog = terminationLog;
    this.process = process;
    this.startedAt = Instant.now();
    this.memoryLimitBytes = memoryLimitBytes;
  }

  static PodProcess start(Pod pod, NodeAgent.Settings settings, KubernetesClient client)
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
    for (VolumeMount m :
        container.getVolumeMounts() == null
            ? List.<VolumeMount>of()
            : container.getVolumeMounts()) {
      Path local = volumes.get(m.getName());
      if (local == null) {
        throw new Unrunnable(
            "CreateContainerConfigError", "volumeMount " + m.getName() + " names no volume");
      }
      paths.mount(
          m.getMountPath(),
          m.getSubPath() == null || m.getSubPath().isEmpty()
              ? local
              : local.resolve(m.getSubPath()));
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

    // 4. Command line: the container's command, or the local stand-in for its image's entrypoint.
    List<String> command = new ArrayList<>();
    if (container.getCommand() != null && !container.getCommand().isEmpty()) {
      container.getCommand().forEach(c -> command.add(paths.rewrite(c)));
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
      container.getArgs().forEach(a -> command.add(paths.rewrite(a)));
    }

    ProcessBuilder builder =
        new ProcessBuilder(command)
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve(container.getName() + ".log").toFile());
    Map<String, String> env = builder.environment();
    for (EnvVar e : container.getEnv() == null ? List.<EnvVar>of() : container.getEnv()) {
      env.put(e.getName(), paths.rewrite(envValue(e, pod, container)));
    }
    Long memoryLimit =
        limit(container, "memory").map(q -> q.getNumericalAmount().longValue()).orElse(null);
    return new PodProcess(pod, container, dir, terminationLog, builder.start(), memoryLimit);
  }

  /** Resident memory of the process and its children, in bytes. */
  long residentBytes() {
    return Stream.concat(Stream.of(process.toHandle()), process.descendants())
        .mapToLong(h -> rssOf(h.pid()))
        .sum();
  }

  /** Kills the process tree: SIGTERM, then SIGKILL after the grace period. */
  void kill(long graceSeconds) {
    List<ProcessHandle> tree =
        Stream.concat(process.descendants(), Stream.of(process.toHandle())).toList();
    tree.forEach(ProcessHandle::destroy);
    try {
      if (!process.waitFor(graceSeconds, java.util.concurrent.TimeUnit.SECONDS)) {
        tree.forEach(ProcessHandle::destroyForcibly);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      tree.forEach(ProcessHandle::destroyForcibly);
    }
  }

  void killForMemory() {
    oomKilled = true;
    Stream.concat(process.descendants(), Stream.of(process.toHandle()))
        .forEach(ProcessHandle::destroyForcibly);
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

  private static String envValue(EnvVar e, Pod pod, Container container) {
    if (e.getValue() != null) {
      return e.getValue();
    }
    var from = e.getValueFrom();
    if (from != null && from.getFieldRef() != null) {
      return switch (from.getFieldRef().getFieldPath()) {
        case "metadata.name" -> pod.getMetadata().getName();
        case "metadata.namespace" -> pod.getMetadata().getNamespace();
        case "spec.nodeName" -> pod.getSpec().getNodeName();
        case "status.podIP", "status.hostIP" -> "127.0.0.1";
        default -> "";
      };
    }
    if (from != null && from.getResourceFieldRef() != null) {
      String resource = from.getResourceFieldRef().getResource();
      String name = resource.substring(resource.indexOf('.') + 1);
      BigDecimal divisor =
          from.getResourceFieldRef().getDivisor() == null
              ? BigDecimal.ONE
              : from.getResourceFieldRef().getDivisor().getNumericalAmount();
      return limit(container, name)
          .map(q -> q.getNumericalAmount().divide(divisor, 0, RoundingMode.CEILING).toPlainString())
          .orElse(String.valueOf(Runtime.getRuntime().availableProcessors()));
    }
    return "";
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
}
