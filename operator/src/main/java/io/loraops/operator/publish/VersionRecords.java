package io.loraops.operator.publish;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishSummary;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import io.loraops.operator.api.v1alpha1.RankAnalysisStatus;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.api.v1alpha1.VersionSource;
import io.loraops.operator.support.Labels;
import io.loraops.operator.support.Names;
import io.loraops.operator.trainer.TrialConfigs;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * Version records: one ConfigMap per version, named after the adapter and the version number. Pure.
 *
 * <p>Claim, then verify: publishing creates the record as {@link Labels#CLAIMED} (mutable, the
 * number taken, the version not counted by anyone: {@link #parse} skips it), a publish Job copies
 * the adapter into the version folder, and once the operator has verified the digest the Job
 * reports, one patch makes the record {@link Labels#PUBLISHED} and immutable. A claim whose Job
 * fails stays a claim: its number is never given again and its folder is never rolled out.
 *
 * <p>Why ConfigMaps and not only the LoraAdapter's status: creating an object under a fixed name is
 * atomic, so the name is the lock that keeps a version number from ever being given twice; the
 * record is owned by nothing, so it outlives the LoraJob and the LoraAdapter; and status can be
 * rebuilt from it at any time (the same idea as Deployment revisions kept in ReplicaSets).
 */
public final class VersionRecords {

  static final String DATA_KEY = "version.json";
  static final String RANK_ANALYSIS_KEY = "rank-analysis.json";

  private VersionRecords() {}

  /**
   * The version as claimed: the trial's digest (what the copy must have), the version folder the
   * publish Job fills, the claim time as creation time (the manifest carries it, so every re-run of
   * the Job writes the same manifest).
   */
  public static AdapterVersion describe(LoraJob job, TrialStatus best, int version, Instant now) {
    AdapterVersion v = new AdapterVersion();
    v.setVersion(version);
    v.setDigest(best.getDigest());
    v.setArtifactUri(TrialConfigs.versionUri(job, version));
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

  /**
   * The claimed version as verified: the digest the publish Job read back from the version folder
   * and, when it made one, the merged export's URI.
   */
  public static AdapterVersion verified(AdapterVersion claimed, PublishSummary summary) {
    AdapterVersion v = ContractJson.mapper().convertValue(claimed, AdapterVersion.class);
    v.setDigest(summary.digest());
    if (summary.mergedPath() != null) {
      String folder = claimed.getArtifactUri();
      v.setMergedUri((folder.endsWith("/") ? folder : folder + "/") + "merged");
    }
    return v;
  }

  /** A published record, immutable (as {@link #published} leaves a claim). */
  public static ConfigMap record(String namespace, String adapter, AdapterVersion version) {
    ConfigMap record = claim(namespace, adapter, version);
    record.getMetadata().getLabels().put(Labels.VERSION_STATE, Labels.PUBLISHED);
    record.setImmutable(true);
    return record;
  }

  /** The claim of a version number: the record, mutable, in state {@link Labels#CLAIMED}. */
  public static ConfigMap claim(String namespace, String adapter, AdapterVersion version) {
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
                version.getSource().getLoraJobUid(),
                Labels.VERSION_STATE,
                Labels.CLAIMED))
        .endMetadata()
        .withImmutable(false)
        .addToData(DATA_KEY, ContractJson.toPrettyJson(version))
        .build();
  }

  /**
   * The JSON merge patch that turns a claim into a published record: the verified version, the rank
   * analysis's summary (so a lost LoraJob status is rebuilt with it), state {@link
   * Labels#PUBLISHED}, immutable from then on.
   */
  public static String published(AdapterVersion version, RankAnalysisStatus rankAnalysis) {
    ObjectNode patch = ContractJson.mapper().createObjectNode();
    patch.putObject("metadata").putObject("labels").put(Labels.VERSION_STATE, Labels.PUBLISHED);
    ObjectNode data = patch.putObject("data");
    data.put(DATA_KEY, ContractJson.toPrettyJson(version));
    if (rankAnalysis != null) {
      data.put(RANK_ANALYSIS_KEY, ContractJson.toPrettyJson(rankAnalysis));
    }
    patch.put("immutable", true);
    return ContractJson.toJson(patch);
  }

  /** Whether the record is only a claim (its version does not count yet). */
  public static boolean isClaim(ConfigMap record) {
    return record.getMetadata().getLabels() != null
        && Labels.CLAIMED.equals(record.getMetadata().getLabels().get(Labels.VERSION_STATE));
  }

  /**
   * The published version a record holds; empty for a claim, a record that is not one of ours or
   * one that is damaged.
   */
  public static Optional<AdapterVersion> parse(ConfigMap record) {
    return isClaim(record) ? Optional.empty() : content(record);
  }

  /** The rank analysis recorded with a published version, if any. */
  public static Optional<RankAnalysisStatus> rankAnalysis(ConfigMap record) {
    String json = record.getData() == null ? null : record.getData().get(RANK_ANALYSIS_KEY);
    if (json == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(ContractJson.mapper().readValue(json, RankAnalysisStatus.class));
    } catch (JsonProcessingException e) {
      return Optional.empty();
    }
  }

  /** The version a record holds, claimed or published. */
  public static Optional<AdapterVersion> content(ConfigMap record) {
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
