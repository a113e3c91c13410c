package io.loraops.contract;

import java.util.List;

/**
 * What a publish Job does (the operator writes it to the Job's ConfigMap as {@code publish.json};
 * {@code lora-trainer publish} reads it): copy the best trial's adapter into the version folder,
 * write its manifest, optionally analyse the sweep's ranks and export a merged model, and report
 * the copy's digest. Paths are as the publish pod sees them.
 *
 * @param contractVersion {@link TrialConfig#CURRENT_VERSION}
 * @param sourcePath the best trial's adapter folder
 * @param expectedDigest the digest the trial reported for it ({@code sha256:<hex>}, see {@link
 *     AdapterDigest}); null when the trial reported none (the Job then only checks its copy against
 *     the source it read)
 * @param versionPath {@code <output>/<adapter>/v<N>}: created whole (written beside it, then
 *     renamed), never overwritten with other content
 * @param manifest written as {@code manifest.json}; its digest, files and merged path are filled in
 *     by the Job
 * @param rankAnalysis null when the sweep has a single rank
 * @param merged null unless {@code spec.output.merged}
 * @param terminationMessagePath where the {@link PublishSummary} goes
 */
public record PublishConfig(
    int contractVersion,
    String sourcePath,
    String expectedDigest,
    String versionPath,
    VersionManifest manifest,
    RankAnalysis rankAnalysis,
    Merged merged,
    String terminationMessagePath) {

  /**
   * The LoRA paper's subspace similarity between the best trial's adapter and each other rank's
   * best trial.
   *
   * @param topDirections k: how many of the best trial's top singular directions the summary asks
   *     the other ranks to capture
   * @param threshold the share of those directions a rank must capture on every module type to be
   *     recommended
   * @param others one trial per other rank
   */
  public record RankAnalysis(int topDirections, double threshold, List<Candidate> others) {}

  /**
   * @param trial trial name (t003)
   * @param rank its LoRA rank
   * @param path its adapter folder
   */
  public record Candidate(String trial, int rank, String path) {}

  /**
   * @param baseModelPath the base model's folder (HF layout)
   * @param path where the merged model goes: {@code <versionPath>/merged}
   */
  public record Merged(String baseModelPath, String path) {}
}
