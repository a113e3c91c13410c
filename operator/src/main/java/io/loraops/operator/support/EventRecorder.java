package io.loraops.operator.support;

import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;
import org.jboss.logging.Logger;

/**
 * Writes core/v1 Events about our objects, so {@code kubectl describe} and {@code kubectl events}
 * tell the story. Best effort, as in client-go's recorder: a failed event write is logged and does
 * not fail the reconcile it describes.
 */
public final class EventRecorder {
  private static final Logger LOG = Logger.getLogger(EventRecorder.class);
  public static final String NORMAL = "Normal";
  public static final String WARNING = "Warning";

  private EventRecorder() {}

  public static void record(
      KubernetesClient client,
      HasMetadata about,
      String type,
      String reason,
      String message,
      Instant now) {
    String name =
        about.getMetadata().getName()
            + "."
            + Long.toHexString(now.toEpochMilli())
            + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000));
    var event =
        new EventBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace(about.getMetadata().getNamespace())
            .endMetadata()
            .withNewInvolvedObject()
            .withApiVersion(about.getApiVersion())
            .withKind(about.getKind())
            .withName(about.getMetadata().getName())
            .withNamespace(about.getMetadata().getNamespace())
            .withUid(about.getMetadata().getUid())
            .endInvolvedObject()
            .withType(type)
            .withReason(reason)
            .withMessage(message)
            .withFirstTimestamp(now.toString())
            .withLastTimestamp(now.toString())
            .withCount(1)
            .withNewSource()
            .withComponent(Labels.OPERATOR)
            .endSource()
            .withReportingComponent("loraops.io/" + Labels.OPERATOR)
            .build();
    try {
      client.v1().events().inNamespace(about.getMetadata().getNamespace()).resource(event).create();
    } catch (KubernetesClientException e) {
      LOG.warnf(
          "could not record event %s on %s/%s: %s",
          reason, about.getKind(), about.getMetadata().getName(), e.getMessage());
    }
  }
}
