package io.loraops.trainer.report;

import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishSummary;
import io.loraops.contract.TrialSummary;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The trainer's outputs for the operator: adapter digest ({@link io.loraops.contract.AdapterDigest}
 * defines it) and the termination message.
 */
public final class Reports {
  /** Kubernetes keeps at most this many bytes of a termination message. */
  public static final int MAX_TERMINATION_BYTES = 4096;

  private Reports() {}

  /**
   * {@code sha256:<hex>} over the contents of {@code files} (names relative to {@code dir}) read in
   * name order, concatenated. Content-addressed: the same adapter gives the same digest wherever it
   * lies.
   */
  public static String digest(Path dir, List<String> files) throws IOException {
    List<String> sorted = new ArrayList<>(files);
    sorted.sort(null);
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    byte[] buf = new byte[1 << 16];
    for (String f : sorted) {
      try (InputStream in = Files.newInputStream(dir.resolve(f))) {
        int n;
        while ((n = in.read(buf)) > 0) {
          sha.update(buf, 0, n);
        }
      }
    }
    return "sha256:" + HexFormat.of().formatHex(sha.digest());
  }

  public static long bytes(Path dir, List<String> files) throws IOException {
    long total = 0;
    for (String f : files) {
      total += Files.size(dir.resolve(f));
    }
    return total;
  }

  /**
   * The summary as compact JSON, guaranteed under 4 KiB: the message is shortened first, then the
   * file list dropped, should a summary ever grow past the limit.
   */
  public static String terminationMessage(TrialSummary s) {
    String json = ContractJson.toJson(s);
    if (json.getBytes(StandardCharsets.UTF_8).length <= MAX_TERMINATION_BYTES) {
      return json;
    }
    String msg =
        s.message() == null ? null : s.message().substring(0, Math.min(200, s.message().length()));
    TrialSummary shorter =
        new TrialSummary(
            s.contractVersion(),
            s.outcome(),
            s.exitCode(),
            s.reason(),
            msg,
            s.metrics(),
            s.digest(),
            List.of(),
            s.artifactPath());
    return ContractJson.toJson(shorter);
  }

  /**
   * A publish summary as compact JSON under 4 KiB: past the limit the per-rank captures are dropped
   * (they are all in rank-analysis.json), then the message shortened.
   */
  public static String terminationMessage(PublishSummary s) {
    String json = ContractJson.toJson(s);
    if (json.getBytes(StandardCharsets.UTF_8).length <= MAX_TERMINATION_BYTES) {
      return json;
    }
    PublishSummary.RankSummary r = s.rankAnalysis();
    PublishSummary shorter =
        new PublishSummary(
            s.contractVersion(),
            s.outcome(),
            s.exitCode(),
            s.reason(),
            s.message() == null
                ? null
                : s.message().substring(0, Math.min(200, s.message().length())),
            s.sourceDigest(),
            s.digest(),
            s.versionPath(),
            s.mergedPath(),
            r == null
                ? null
                : new PublishSummary.RankSummary(
                    r.bestRank(),
                    r.topDirections(),
                    r.threshold(),
                    r.recommendedRank(),
                    List.of(),
                    "per-rank captures left out of the termination message: see rank-analysis.json"));
    return ContractJson.toJson(shorter);
  }

  /** Writes the termination message; a failure to do so is only logged (stderr). */
  public static void writeTermination(Path path, TrialSummary s) {
    writeTermination(path, terminationMessage(s));
  }

  /** Writes a termination message; a failure to do so is only logged (stderr). */
  public static void writeTermination(Path path, String message) {
    try {
      if (path.getParent() != null) {
        Files.createDirectories(path.getParent());
      }
      Files.writeString(path, message);
    } catch (IOException | RuntimeException e) {
      System.err.println("trainer: cannot write termination message to " + path + ": " + e);
    }
  }
}
