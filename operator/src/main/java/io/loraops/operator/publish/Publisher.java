package io.loraops.operator.publish;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterSpec;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.metrics.LoraMetrics;
import io.loraops.operator.status.PublishOutcome;
import io.loraops.operator.status.Reasons;
import io.loraops.operator.support.Labels;
import io.loraops.operator.support.Names;
import java.net.HttpURLConnection;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Publishes a LoraJob's best trial as the next version of its LoraAdapter.
 *
 * <p>Idempotent by construction: a LoraJob's uid is recorded on its version, so a second attempt
 * (after a restart, a lost status write or a re-reconcile) finds the first one instead of making
 * another; version numbers are claimed by creating {@code loraadapter-<name>-v<N>}, which only one
 * writer can do.
 */
public final class Publisher {

  /** Bounds the search for a free number when other jobs publish at the same moment. */
  private static final int MAX_CLAIM_ATTEMPTS = 64;

  private final KubernetesClient client;
  private final LoraMetrics metrics;

  public Publisher(KubernetesClient client, LoraMetrics metrics) {
    this.client = client;
    this.metrics = metrics;
  }

  public PublishOutcome publish(LoraJob job, TrialStatus best, Instant now) {
    String namespace = job.getMetadata().getNamespace();
    String adapterName = job.getSpec().getAdapter();
    ModelIdentity trainedOn =
        new ModelIdentity(
            job.getSpec().getBaseModel().getName(), job.getSpec().getBaseModel().getRevision());

    LoraAdapter adapter = getOrCreateAdapter(namespace, adapterName, trainedOn);
    if (!adapter.getSpec().getBaseModel().accepts(trainedOn)) {
      return PublishOutcome.refused(
          Reasons.BASE_MODEL_MISMATCH,
          "LoraAdapter "
              + adapterName
              + " is for base model "
              + adapter.getSpec().getBaseModel()
              + " but this job trained on "
              + trainedOn
              + "; trial results are kept. Point"
              + " spec.adapter at an adapter for "
              + trainedOn
              + " in a new LoraJob, or change the"
              + " LoraAdapter's spec.baseModel.");
    }

    // A direct list, not the cache: this runs once per job and must see every version.
    List<ConfigMap> records =
        client
            .configMaps()
            .inNamespace(namespace)
            .withLabel(Labels.MANAGED_BY, Labels.OPERATOR)
            .withLabel(Labels.ADAPTER, adapterName)
            .list()
            .getItems();
    Optional<Integer> mine =
        records.stream()
            .filter(r -> VersionRecords.publishedBy(r, job))
            .flatMap(r -> VersionRecords.versionLabel(r).stream())
            .findFirst();
    if (mine.isPresent()) {
      return PublishOutcome.published(mine.get());
    }

    int next =
        records.stream()
                .flatMap(r -> VersionRecords.versionLabel(r).stream())
                .max(Integer::compare)
                .orElse(0)
            + 1;
    for (int attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++, next++) {
      AdapterVersion version = VersionRecords.describe(job, best, next, now);
      try {
        client
            .configMaps()
            .resource(VersionRecords.record(namespace, adapterName, version))
            .create();
        metrics.versionPublished(namespace, adapterName);
        return PublishOutcome.published(next);
      } catch (KubernetesClientException e) {
        if (e.getCode() != HttpURLConnection.HTTP_CONFLICT) {
          throw e;
        }
        ConfigMap taken =
            client
                .configMaps()
                .inNamespace(namespace)
                .withName(Names.versionRecord(adapterName, next))
                .get();
        if (taken != null && VersionRecords.publishedBy(taken, job)) {
          return PublishOutcome.published(next);
        }
      }
    }
    throw new IllegalStateException(
        "could not claim a version number for "
            + adapterName
            + " after "
            + MAX_CLAIM_ATTEMPTS
            + " attempts");
  }

  private LoraAdapter getOrCreateAdapter(String namespace, String name, ModelIdentity base) {
    var adapters = client.resources(LoraAdapter.class).inNamespace(namespace);
    LoraAdapter existing = adapters.withName(name).get();
    if (existing != null) {
      return existing;
    }
    LoraAdapter adapter = new LoraAdapter();
    adapter.getMetadata().setName(name);
    adapter.getMetadata().setNamespace(namespace);
    LoraAdapterSpec spec = new LoraAdapterSpec();
    spec.setBaseModel(base);
    spec.setVersion(new IntOrString("latest"));
    adapter.setSpec(spec);
    try {
      return adapters.resource(adapter).create();
    } catch (KubernetesClientException e) {
      if (e.getCode() == HttpURLConnection.HTTP_CONFLICT) {
        return adapters.withName(name).get();
      }
      throw e;
    }
  }
}
