package io.loraops.operator.publish;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.loraops.contract.PublishSummary;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterSpec;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import io.loraops.operator.api.v1alpha1.RankAnalysisStatus;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.metrics.LoraMetrics;
import io.loraops.operator.status.PublishObserver;
import io.loraops.operator.status.PublishOutcome;
import io.loraops.operator.status.RankAnalysisSummary;
import io.loraops.operator.status.Reasons;
import io.loraops.operator.support.Creates;
import io.loraops.operator.support.Labels;
import io.loraops.operator.support.Names;
import io.loraops.operator.trainer.PublishJobBuilder;
import java.net.HttpURLConnection;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Publishes a LoraJob's best trial as the next version of its LoraAdapter: claim a version number,
 * run the publish Job that makes the version folder, verify what it reports, then mark the version
 * published.
 *
 * <p>Idempotent by construction: a LoraJob's uid is recorded on its claim, so a second attempt
 * (after a restart, a lost status write or a re-reconcile) finds the first claim instead of making
 * another; version numbers are claimed by creating {@code loraadapter-<name>-v<N>}, which only one
 * writer can do; the publish Job's name is derived from the LoraJob, and its work from the claim. A
 * claim counts as a version only once the digest the Job reports is verified ({@link
 * PublishObserver}); until then nothing rolls it out.
 */
public final class Publisher {

  /** Bounds the search for a free number when other jobs publish at the same moment. */
  private static final int MAX_CLAIM_ATTEMPTS = 64;

  private final KubernetesClient client;
  private final LoraMetrics metrics;
  private final PublishJobBuilder builder;
  private final Consumer<Job> created;

  /**
   * @param created told of a publish Job this publisher created (so the informer cache knows it
   *     before its watch event arrives)
   */
  public Publisher(
      KubernetesClient client,
      LoraMetrics metrics,
      PublishJobBuilder builder,
      Consumer<Job> created) {
    this.client = client;
    this.metrics = metrics;
    this.builder = builder;
    this.created = created;
  }

  /**
   * @param trials every trial of the sweep, for the rank analysis
   * @param publishJob the LoraJob's publish Job from the informer cache, or null
   * @param publishPods its pods
   */
  public PublishOutcome publish(
      LoraJob job,
      TrialStatus best,
      List<TrialStatus> trials,
      Job publishJob,
      List<Pod> publishPods,
      Instant now) {
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

    ConfigMap record = claim(job, best, now);
    AdapterVersion claimed =
        VersionRecords.content(record)
            .orElseThrow(
                () ->
                    new IllegalStateException(
                        "version record " + record.getMetadata().getName() + " is damaged"));
    if (!VersionRecords.isClaim(record)) {
      return PublishOutcome.published(
          claimed.getVersion(), VersionRecords.rankAnalysis(record).orElse(null));
    }

    PublishObserver.Observation seen =
        PublishObserver.observe(publishJob, publishPods, best.getDigest());
    return switch (seen.state()) {
      case ABSENT -> {
        PublishJobBuilder.PublishObjects objects = builder.build(job, best, trials, claimed);
        Creates.ifAbsent(client, objects.configMap());
        Job made = Creates.ifAbsent(client, objects.job());
        if (made != null) {
          created.accept(made);
        }
        yield PublishOutcome.publishing(
            claimed.getVersion(),
            "publish Job "
                + objects.job().getMetadata().getName()
                + " created: it copies trial "
                + best.getName()
                + " to "
                + claimed.getArtifactUri());
      }
      case RUNNING -> PublishOutcome.publishing(claimed.getVersion(), seen.message());
      case FAILED -> PublishOutcome.refused(seen.reason(), seen.message());
      case VERIFIED -> finish(record, claimed, seen.summary());
    };
  }

  /** Makes a verified claim a published version: one patch, after which the record is immutable. */
  private PublishOutcome finish(ConfigMap record, AdapterVersion claimed, PublishSummary summary) {
    AdapterVersion version = VersionRecords.verified(claimed, summary);
    RankAnalysisStatus rankAnalysis =
        RankAnalysisSummary.of(summary.rankAnalysis(), claimed.getArtifactUri());
    client
        .configMaps()
        .inNamespace(record.getMetadata().getNamespace())
        .withName(record.getMetadata().getName())
        .patch(
            PatchContext.of(PatchType.JSON_MERGE), VersionRecords.published(version, rankAnalysis));
    metrics.versionPublished(
        record.getMetadata().getNamespace(), record.getMetadata().getLabels().get(Labels.ADAPTER));
    return PublishOutcome.published(version.getVersion(), rankAnalysis);
  }

  /**
   * This LoraJob's version record: the one it claimed before (found by its uid), or a new claim of
   * the next free number.
   */
  private ConfigMap claim(LoraJob job, TrialStatus best, Instant now) {
    String namespace = job.getMetadata().getNamespace();
    String adapterName = job.getSpec().getAdapter();
    // A direct list, not the cache: this must see every version, claimed or published.
    List<ConfigMap> records =
        client
            .configMaps()
            .inNamespace(namespace)
            .withLabel(Labels.MANAGED_BY, Labels.OPERATOR)
            .withLabel(Labels.ADAPTER, adapterName)
            .withLabel(Labels.VERSION)
            .list()
            .getItems();
    Optional<ConfigMap> mine =
        records.stream().filter(r -> VersionRecords.publishedBy(r, job)).findFirst();
    if (mine.isPresent()) {
      return mine.get();
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
        return client
            .configMaps()
            .resource(VersionRecords.claim(namespace, adapterName, version))
            .create();
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
          return taken;
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
