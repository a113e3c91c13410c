package io.loraops.operator.progress;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.net.HttpURLConnection;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * {@link PodLogs} through the API server's {@code pods/log} subresource, which proxies to the
 * kubelet of the pod's node: {@code GET .../pods/NAME/log?container=C&timestamps=true
 * &sinceTime=T&limitBytes=N}. The kubelet compares sinceTime at one-second granularity, so a read
 * repeats the lines of its first second; {@link PodProgress#fold} ignores repeats.
 */
public final class KubernetesPodLogs implements PodLogs {

  private final KubernetesClient client;

  public KubernetesPodLogs(KubernetesClient client) {
    this.client = client;
  }

  @Override
  public String read(
      String namespace, String pod, String container, Instant since, int limitBytes) {
    var logs =
        client
            .pods()
            .inNamespace(namespace)
            .withName(pod)
            .inContainer(container)
            .usingTimestamps()
            .limitBytes(limitBytes);
    try {
      return since == null
          ? logs.getLog()
          : logs.sinceTime(since.truncatedTo(ChronoUnit.SECONDS).toString()).getLog();
    } catch (KubernetesClientException e) {
      if (e.getCode() == HttpURLConnection.HTTP_NOT_FOUND) {
        return null;
      }
      throw e;
    }
  }
}
