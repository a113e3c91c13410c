package io.loraops.operator.publish;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.loraops.contract.ContractJson;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.api.v1alpha1.VersionSource;
import io.loraops.operator.support.Labels;
import io.loraops.operator.support.Names;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * Version records: one immutable ConfigMap per published version, named after the adapter and the
 * version number. Pure.
 *
 * <p>Why ConfigMaps and not only the LoraAdapter's status: creating an object under a fixed name is
 * atomic, so the name is the lock that keeps a version number from ever being given twice; the
 * record is owned by nothing, so it outlives the LoraJob and the LoraAdapter; and status can be
 * rebuilt from it at any time (the same idea as Deployment revisions kept in ReplicaSets).
 */
public final class VersionRecords {

  static final String DATA_KEY = "version.json";

  private VersionRecords() {}

  public static AdapterVersion describe(LoraJob job, TrialStatus best, int version, Instant now) {
    AdapterVersion v = new AdapterVersion();
    v.setVersion(version);
    v.setDigest(best.getDigest());
    v.setArtifactUri(best.getArtifactUri());
    v.setBaseModel(
        new ModelIdentity(
            job.getSpec().getBaseModel().getName(), job.getSpec().getBaseModel().getRevision()));
    v.setRank(best.getParameters().getRank());
    v.setAlpha(best.getParameters().getAlpha());
    v.setTargetModules(best.getParameters().getTargetModules());
    v.setMetrics(best.getMetrics());
    v.setSource(
        new VersionSource(job.getMetadata().getName(), job.getMetadata().getUid(), best.getName()));
    v.setCreatedAt(now.toString());
    return v;
  }

  public static ConfigMap record(String namespace, String adapter, AdapterVersion version) {
    return new ConfigMapBuilder()
        .withNewMetadata()
        .withName(Names.versionRecord(adapter, version.getVersion()))
        .withNamespace(namespace)
        .withLabels(
            Map.of(
                Labels.MANAGED_BY,
                Labels.OPERATOR,
                Labels.PART_OF,
                Labels.OPERATOR,
                Labels.ADAPTER,
                adapter,
                Labels.VERSION,
                version.getVersion().toString(),
                Labels.SOURCE_UID,
                version.getSource().getLoraJobUid()))
        .endMetadata()
        .withImmutable(true)
        .addToData(DATA_KEY, ContractJson.toPrettyJson(version))
        .build();
  }

  /** The version a record holds; empty for a record that is not one of ours or is damaged. */
  public static Optional<AdapterVersion> parse(ConfigMap record) {
    String json = record.getData() == null ? null : record.getData().get(DATA_KEY);
    if (json == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(ContractJson.mapper().readValue(json, AdapterVersion.class));
    } catch (JsonProcessingException e) {
      return Optional.empty();
    }
  }

  public static Optional<Integer> versionLabel(ConfigMap record) {
    try {
      return Optional.of(Integer.parseInt(record.getMetadata().getLabels().get(Labels.VERSION)));
    } catch (RuntimeException e) {
      return Optional.empty();
    }
  }

  public static boolean publishedBy(ConfigMap record, LoraJob job) {
    return job.getMetadata()
        .getUid()
        .equals(record.getMetadata().getLabels().get(Labels.SOURCE_UID));
  }
}
