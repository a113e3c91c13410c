package io.loraops.e2e;

import io.loraops.operator.it.ControlPlane;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The E2E tier's node, shared by every test in this JVM: {@code hack/node.sh} adds kube-scheduler,
 * containerd and kubelet to the test control plane, and {@code hack/images.sh} imports the
 * project's images built from its Dockerfiles (as {@code make demo} does). Stopped with the JVM.
 */
final class RealNode {

  private static boolean up;

  private RealNode() {}

  static synchronized void ensureUp() throws IOException, InterruptedException {
    if (up) {
      return;
    }
    Path dir = controlPlaneDir();
    ControlPlane.hack("node.sh", "up", dir.toString());
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    ControlPlane.hack("node.sh", "down", dir.toString());
                  } catch (Exception e) {
                    System.err.println("could not stop the test node: " + e.getMessage());
                  }
                }));
    ControlPlane.hack("images.sh", "import", dir.toString());
    up = true;
  }

  /**
   * Kills a container with SIGKILL through containerd, as the kernel's OOM killer or a crash would:
   * no shutdown hook runs. {@code containerId} is a pod status's {@code containerd://<id>}.
   */
  static void kill(String containerId) throws IOException, InterruptedException {
    String id = containerId.replaceFirst("^containerd://", "");
    Process p =
        new ProcessBuilder(
                List.of(
                    "ctr",
                    "--address",
                    controlPlaneDir().resolve("node/containerd/containerd.sock").toString(),
                    "--namespace",
                    "k8s.io",
                    "tasks",
                    "kill",
                    "--signal",
                    "SIGKILL",
                    id))
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException("ctr tasks kill " + id + " failed: " + out);
    }
  }

  private static Path controlPlaneDir() {
    Path dir = ControlPlane.dir();
    if (dir == null) {
      throw new IllegalStateException(
          "the E2E tier runs its own node next to its own control plane; unset LORA_IT_KUBECONFIG");
    }
    return dir;
  }
}
