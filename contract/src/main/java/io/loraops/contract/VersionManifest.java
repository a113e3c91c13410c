package io.loraops.contract;

import java.util.List;

/**
 * {@code manifest.json} in a published version folder: the version's record next to its artifacts,
 * so history survives the deletion of every Kubernetes object.
 *
 * @param adapter the LoraAdapter's name
 * @param version the version number (1, 2, ...; never reused)
 * @param digest {@link AdapterDigest} of the adapter files in this folder
 * @param files the adapter files the digest covers, in digest order
 * @param baseModel the base model the adapter was trained on
 * @param rank LoRA rank
 * @param alpha LoRA alpha
 * @param targetModules adapted modules
 * @param metrics the trial's results
 * @param source the LoraJob and trial that produced it
 * @param createdAt when the version was claimed (RFC 3339); the same on every re-run
 * @param mergedPath the merged export's folder relative to this one ({@code merged}), when made
 * @param rankAnalysis {@code rank-analysis.json} when the sweep had several ranks
 */
public record VersionManifest(
    String adapter,
    int version,
    String digest,
    List<String> files,
    BaseModel baseModel,
    Integer rank,
    Double alpha,
    List<String> targetModules,
    TrialSummary.Metrics metrics,
    Source source,
    String createdAt,
    String mergedPath,
    String rankAnalysis) {

  public static final String FILE = "manifest.json";

  /**
   * @param name the base model's name
   * @param revision its revision or digest, when given
   */
  public record BaseModel(String name, String revision) {}

  /**
   * @param loraJob the LoraJob's name
   * @param loraJobUid its uid (a re-created LoraJob of the same name is another source)
   * @param trial the trial's name
   * @param trialArtifactUri the trial folder the version was copied from
   */
  public record Source(String loraJob, String loraJobUid, String trial, String trialArtifactUri) {}

  /** This manifest with what the publish Job measured and made. */
  public VersionManifest withResults(
      String digest, List<String> files, String mergedPath, String rankAnalysis) {
    return new VersionManifest(
        adapter,
        version,
        digest,
        files,
        baseModel,
        rank,
        alpha,
        targetModules,
        metrics,
        source,
        createdAt,
        mergedPath,
        rankAnalysis);
  }
}
