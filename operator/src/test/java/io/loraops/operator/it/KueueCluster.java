package io.loraops.operator.it;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Kueue's real controller manager (v0.17.0, built from its Go module by {@code make tools}) next to
 * the test control plane, started once per JVM by {@code hack/kueue.sh}, which also installs
 * Kueue's CRDs and webhooks pointed at it. Each test namespace gets its own ClusterQueue, which
 * admits {@value #GPUS} GPUs at a time (so a test never waits for another's quota), and a
 * LocalQueue, {@value #QUEUE}, for it.
 */
final class KueueCluster {

  static final String QUEUE = "gpu-queue";
  static final int GPUS = 2;
  static final String API = "kueue.x-k8s.io/v1beta2";

  private static boolean started;

  private KueueCluster() {}

  /** Starts Kueue (once) and makes the queues of {@code namespace}. */
  static synchronized void queueIn(KubernetesClient client, String namespace) {
    if (!started) {
      start(client);
      started = true;
    }
    // Trial pods request cpu and memory too: a ClusterQueue must cover every requested resource.
    apply(
        client,
        """
        apiVersion: %s
        kind: ClusterQueue
        metadata: {name: %s}
        spec:
          namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %s}}
          resourceGroups:
          - coveredResources: [cpu, memory, nvidia.com/gpu]
            flavors:
            - name: default-flavor
              resources:
              - {name: cpu, nominalQuota: "100"}
              - {name: memory, nominalQuota: 1000Gi}
              - {name: nvidia.com/gpu, nominalQuota: %d}
        """
            .formatted(API, namespace, namespace, GPUS));
    apply(
        client,
        """
        apiVersion: %s
        kind: LocalQueue
        metadata: {name: %s, namespace: %s}
        spec: {clusterQueue: %s}
        """
            .formatted(API, QUEUE, namespace, namespace));
  }

  /** Kueue's Workloads in {@code namespace}. */
  static List<GenericKubernetesResource> workloads(KubernetesClient client, String namespace) {
    return client
        .genericKubernetesResources(API, "Workload")
        .inNamespace(namespace)
        .list()
        .getItems();
  }

  private static void start(KubernetesClient client) {
    Path dir = Path.of("target/it-kueue").toAbsolutePath();
    try {
      ControlPlane.hack("kueue.sh", "down", dir.toString());
      ControlPlane.hack("kueue.sh", "up", dir.toString(), ControlPlane.kubeconfig().toString());
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException("could not start Kueue", e);
    }
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    ControlPlane.hack("kueue.sh", "down", dir.toString());
                  } catch (Exception e) {
                    System.err.println("could not stop Kueue: " + e.getMessage());
                  }
                }));
    apply(
        client,
        """
        apiVersion: %s
        kind: ResourceFlavor
        metadata: {name: default-flavor}
        """
            .formatted(API));
  }

  private static void apply(KubernetesClient client, String yaml) {
    client
        .resource(Serialization.unmarshal(yaml, GenericKubernetesResource.class))
        .forceConflicts()
        .serverSideApply();
  }
}
