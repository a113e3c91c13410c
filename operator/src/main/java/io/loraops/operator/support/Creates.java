package io.loraops.operator.support;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.net.HttpURLConnection;

/** Creating children whose names are deterministic, so a repeated reconcile is harmless. */
public final class Creates {
  private Creates() {}

  /** Creates {@code resource}; null if it already existed (a repeated reconcile). */
  public static <T extends HasMetadata> T ifAbsent(KubernetesClient client, T resource) {
    try {
      return client.resource(resource).create();
    } catch (KubernetesClientException e) {
      if (e.getCode() == HttpURLConnection.HTTP_CONFLICT) {
        return null;
      }
      throw e;
    }
  }
}
