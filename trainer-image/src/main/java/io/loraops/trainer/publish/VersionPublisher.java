package io.loraops.trainer.publish;

import io.loraops.contract.AdapterDigest;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.PublishConfig;
import io.loraops.contract.PublishSummary;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.contract.VersionManifest;
import io.loraops.trainer.report.Reports;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code lora-trainer publish}: makes {@code <output>/<adapter>/v<N>/} from the best trial's
 * folder.
 *
 * <pre>
 * trial folder --verify digest--> .v&lt;N&gt;.partial/  adapter files (copied, re-read, hashed)
 *                                                 rank-analysis.json + .svg (several ranks)
 *                                                 merged/ (spec.output.merged)
 *                                                 manifest.json (last)
 *              --atomic rename--> v&lt;N&gt;/  --re-read, hashed--> the digest reported
 * </pre>
 *
 * A version folder exists only whole (a Job killed half-way leaves a {@code .partial} folder that
 * the next attempt replaces) and is never overwritten: a re-run that finds {@code v<N>/} with the
 * same adapter reports it again; one that finds other content fails ({@link
 * #VERSION_FOLDER_TAKEN}).
 */
public final class VersionPublisher {

  /** The trial folder's adapter is not the one its trial reported. */
  public static final String DIGEST_MISMATCH = "DigestMismatch";

  /** The version folder exists and holds another adapter. */
  public static final String VERSION_FOLDER_TAKEN = "VersionFolderTaken";

  /** The copy read back differs from the source (a storage fault). */
  public static final String COPY_MISMATCH = "CopyMismatch";

  /** {@code lora-trainer export-merged} failed. */
  public static final String MERGED_EXPORT_FAILED = "MergedExportFailed";

  public static final String MERGED_DIR = "merged";

  /** The merged export (W' = W0 + scale B A), run as its own trainer command. */
  @FunctionalInterface
  public interface MergedExport {
    /** Returns the command's exit code. */
    int export(Path baseModel, Path adapter, Path out);
  }

  /** A publish failure with its reason; {@code exitCode} tells the Job whether to retry. */
  public static final class PublishException extends RuntimeException {
    final String reason;
    final int exitCode;

    PublishException(String reason, int exitCode, String message) {
      super(message);
      this.reason = reason;
      this.exitCode = exitCode;
    }

    public PublishSummary summary() {
      return PublishSummary.failure(exitCode, reason, getMessage());
    }
  }

  private final MergedExport mergedExport;

  public VersionPublisher(MergedExport mergedExport) {
    this.mergedExport = mergedExport;
  }

  public PublishSummary publish(PublishConfig cfg) throws IOException {
    Path source = Path.of(cfg.sourcePath());
    Path target = Path.of(cfg.versionPath());
    List<String> files = AdapterDigest.FILES;
    for (String f : files) {
      if (!Files.isRegularFile(source.resolve(f))) {
        throw new PublishException(
            "MissingAdapter",
            ExitCodes.DATA_ERROR,
            "the trial folder " + source + " has no " + f + "; was it deleted or moved?");
      }
    }
    String sourceDigest = Reports.digest(source, files);
    if (cfg.expectedDigest() != null && !cfg.expectedDigest().equals(sourceDigest)) {
      throw new PublishException(
          DIGEST_MISMATCH,
          ExitCodes.DATA_ERROR,
          "the trial folder "
              + source
              + " holds an adapter with digest "
              + sourceDigest
              + ", not the "
              + cfg.expectedDigest()
              + " its trial reported: it changed after training; nothing was published");
    }

    if (Files.exists(target)) {
      return alreadyPublished(cfg, target, sourceDigest);
    }

    Path partial = target.resolveSibling("." + target.getFileName() + ".partial");
    deleteRecursively(partial); // a previous attempt that died half-way
    Files.createDirectories(partial);
    for (String f : files) {
      Files.copy(source.resolve(f), partial.resolve(f), StandardCopyOption.COPY_ATTRIBUTES);
    }
    requireSame(sourceDigest, Reports.digest(partial, files), partial);

    PublishSummary.RankSummary ranks = null;
    if (cfg.rankAnalysis() != null) {
      ranks = RankReport.write(cfg, source, partial);
    }
    String mergedPath = null;
    if (cfg.merged() != null) {
      int rc =
          mergedExport.export(
              Path.of(cfg.merged().baseModelPath()), partial, partial.resolve(MERGED_DIR));
      if (rc != ExitCodes.OK) {
        throw new PublishException(
            MERGED_EXPORT_FAILED,
            rc,
            "export-merged exited " + rc + " (see the publish pod's log); nothing was published");
      }
      mergedPath = MERGED_DIR;
    }
    VersionManifest manifest =
        cfg.manifest()
            .withResults(
                sourceDigest,
                files,
                mergedPath,
                ranks == null || ranks.message() != null ? null : RankReport.JSON_FILE);
    Files.writeString(partial.resolve(VersionManifest.FILE), ContractJson.toPrettyJson(manifest));

    Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
    String digest = Reports.digest(target, files);
    requireSame(sourceDigest, digest, target);
    return succeeded(sourceDigest, digest, target, mergedPath, ranks);
  }

  /**
   * A re-run (the pod died after the rename, or the Job was re-created): the folder is reported
   * again if it holds this very adapter and its manifest, and refused otherwise.
   */
  private static PublishSummary alreadyPublished(PublishConfig cfg, Path target, String source)
      throws IOException {
    Path manifestFile = target.resolve(VersionManifest.FILE);
    boolean complete =
        Files.isRegularFile(manifestFile)
            && AdapterDigest.FILES.stream().allMatch(f -> Files.isRegularFile(target.resolve(f)));
    String found = complete ? Reports.digest(target, AdapterDigest.FILES) : null;
    VersionManifest manifest =
        complete
            ? ContractJson.mapper().readValue(manifestFile.toFile(), VersionManifest.class)
            : null;
    boolean ours =
        source.equals(found)
            && manifest != null
            && manifest.version() == cfg.manifest().version()
            && manifest.source() != null
            && cfg.manifest().source().loraJobUid().equals(manifest.source().loraJobUid());
    if (!ours) {
      throw new PublishException(
          VERSION_FOLDER_TAKEN,
          ExitCodes.BAD_CONFIG,
          target
              + " already exists and holds "
              + (complete
                  ? "version "
                      + (manifest == null ? "?" : manifest.version())
                      + " from "
                      + (manifest == null || manifest.source() == null
                          ? "an unknown source"
                          : "LoraJob " + manifest.source().loraJob())
                      + " (digest "
                      + found
                      + ")"
                  : "no complete version")
              + "; versions are never overwritten: move it away if it is stale");
    }
    PublishSummary.RankSummary ranks =
        manifest.rankAnalysis() == null ? null : RankReport.read(target);
    return succeeded(
        source, found, target, manifest.mergedPath() == null ? null : manifest.mergedPath(), ranks);
  }

  private static PublishSummary succeeded(
      String sourceDigest,
      String digest,
      Path target,
      String mergedPath,
      PublishSummary.RankSummary ranks) {
    return new PublishSummary(
        TrialConfig.CURRENT_VERSION,
        TrialSummary.SUCCEEDED,
        ExitCodes.OK,
        null,
        null,
        sourceDigest,
        digest,
        target.toString(),
        mergedPath == null ? null : target.resolve(mergedPath).toString(),
        ranks);
  }

  private static void requireSame(String expected, String actual, Path where) {
    if (!expected.equals(actual)) {
      throw new PublishException(
          COPY_MISMATCH,
          ExitCodes.OTHER,
          "the copy in " + where + " reads back as " + actual + ", not " + expected);
    }
  }

  static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
