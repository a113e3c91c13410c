package io.loraops.nodeagent;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * The local node agent: {@code java -jar lora-node-agent.jar --kubeconfig K --root DIR --claims DIR
 * --capacity cpu=2,memory=16Gi,nvidia.com/gpu=4,pods=16 --image repo=command ...}. For local mode
 * and end-to-end tests only; a real cluster has kubelets.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> options = new LinkedHashMap<>();
    Map<String, String> images = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String key = args[i];
      if (!key.startsWith("--") || i + 1 >= args.length) {
        usage("unexpected argument " + key);
      }
      String value = args[++i];
      if (key.equals("--image")) {
        int eq = value.indexOf('=');
        if (eq < 1) {
          usage("--image takes repository=command, got " + value);
        }
        images.put(value.substring(0, eq), value.substring(eq + 1));
      } else {
        options.put(key.substring(2), value);
      }
    }
    String kubeconfig = options.getOrDefault("kubeconfig", System.getenv("KUBECONFIG"));
    if (kubeconfig == null) {
      usage("--kubeconfig is required");
    }
    Path root = Path.of(options.getOrDefault("root", ".local/node")).toAbsolutePath();
    Path claims =
        Path.of(options.getOrDefault("claims", root.resolve("claims").toString())).toAbsolutePath();
    Files.createDirectories(claims);
    NodeAgent.Settings settings =
        new NodeAgent.Settings(
            options.getOrDefault("node-name", "local-node"),
            root,
            claims,
            Resources.parseCapacity(
                options.getOrDefault("capacity", "cpu=2,memory=16Gi,nvidia.com/gpu=4,pods=16")),
            images);

    KubernetesClient client =
        new KubernetesClientBuilder()
            .withConfig(Config.fromKubeconfig(Files.readString(Path.of(kubeconfig))))
            .build();
    NodeAgent agent = new NodeAgent(client, settings);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  agent.close();
                  stopped.countDown();
                }));
    agent.start();
    stopped.await();
  }

  private static void usage(String problem) {
    System.err.println("lora-node-agent: " + problem);
    System.err.println(
        "usage: lora-node-agent --kubeconfig FILE [--node-name local-node] [--root DIR] [--claims DIR]"
            + " [--capacity cpu=2,memory=16Gi,nvidia.com/gpu=4,pods=16] [--image REPOSITORY=COMMAND ...]");
    System.exit(2);
  }
}
