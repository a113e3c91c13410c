package io.loraops.trainer.publish;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishConfig;
import io.loraops.contract.PublishSummary;
import io.loraops.trainer.lora.RankAnalysis;
import io.loraops.trainer.lora.RankAnalysis.ModuleSimilarity;
import io.loraops.trainer.report.Heatmap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The rank analysis of a sweep, written next to the published version: {@code rank-analysis.json}
 * (every phi matrix and the summary) and {@code rank-analysis.svg} (the heatmap).
 *
 * <p>For the best trial (rank r_b) against each other rank's best trial (rank r): per module type,
 * phi(A_best, A_r, i, j) for i = 1..r_b, j = 1..r, averaged over layers ({@link RankAnalysis}), and
 * the share of the best trial's top-k directions that rank r's subspace holds, {@code ||U_best,k^T
 * U_r||_F^2 / k} (= phi(k, r) when r >= k; at most r / k when r < k). The recommended rank is the
 * smallest one whose share is at least the threshold on every module type.
 *
 * <p>Informative, not a gate: an analysis that cannot be made (an adapter unreadable) is reported
 * in the summary's message and the version is published all the same.
 */
final class RankReport {
  static final String JSON_FILE = "rank-analysis.json";
  static final String SVG_FILE = "rank-analysis.svg";

  private RankReport() {}

  static PublishSummary.RankSummary write(PublishConfig cfg, Path best, Path out)
      throws IOException {
    PublishConfig.RankAnalysis ask = cfg.rankAnalysis();
    int bestRank = cfg.manifest().rank();
    int k = Math.max(1, Math.min(ask.topDirections(), bestRank));
    List<PublishConfig.Candidate> others = new ArrayList<>(ask.others());
    others.sort(Comparator.comparingInt(PublishConfig.Candidate::rank));

    List<PublishSummary.Capture> captures = new ArrayList<>();
    List<Map<String, Object>> comparisons = new ArrayList<>();
    List<List<Heatmap.Panel>> panels = new ArrayList<>();
    try {
      for (PublishConfig.Candidate other : others) {
        Map<String, ModuleSimilarity> modules = RankAnalysis.compare(best, Path.of(other.path()));
        Map<String, Double> captured = new LinkedHashMap<>();
        Map<String, Object> detail = new LinkedHashMap<>();
        List<Heatmap.Panel> row = new ArrayList<>();
        modules.forEach(
            (module, similarity) -> {
              double share = round(RankAnalysis.captured(similarity, k));
              captured.put(module, share);
              detail.put(
                  module,
                  Map.of(
                      "layers", similarity.layers(),
                      "captured", share,
                      "phi", rounded(similarity.phi())));
              row.add(
                  new Heatmap.Panel(
                      String.format(
                          Locale.ROOT,
                          "rank %d (%s), %s: %.2f",
                          other.rank(),
                          other.trial(),
                          module,
                          share),
                      similarity.phi()));
            });
        captures.add(new PublishSummary.Capture(other.rank(), other.trial(), captured));
        Map<String, Object> comparison = new LinkedHashMap<>();
        comparison.put("rank", other.rank());
        comparison.put("trial", other.trial());
        comparison.put("modules", detail);
        comparisons.add(comparison);
        panels.add(row);
      }
    } catch (IOException | RuntimeException e) {
      return new PublishSummary.RankSummary(
          bestRank, k, ask.threshold(), null, List.of(), "rank analysis failed: " + e.getMessage());
    }

    PublishSummary.RankSummary summary =
        new PublishSummary.RankSummary(
            bestRank,
            k,
            ask.threshold(),
            recommend(bestRank, captures, ask.threshold()),
            captures,
            null);
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("bestTrial", cfg.manifest().source().trial());
    json.put("bestRank", bestRank);
    json.put("topDirections", k);
    json.put("threshold", ask.threshold());
    json.put(
        "definition",
        "phi(i, j) = ||U_best,i^T U_other,j||_F^2 / min(i, j) over the top right-singular vectors"
            + " of lora_A (LoRA paper, section 7.2), mean over layers per module type; captured ="
            + " ||U_best,k^T U_other||_F^2 / k");
    json.put("summary", summary);
    json.put("comparisons", comparisons);
    Files.writeString(out.resolve(JSON_FILE), ContractJson.toPrettyJson(json));
    Files.writeString(
        out.resolve(SVG_FILE),
        Heatmap.svg(
            "Subspace similarity: best trial "
                + cfg.manifest().source().trial()
                + " (rank "
                + bestRank
                + ") against each other rank",
            panels));
    return summary;
  }

  /** The summary a published folder's {@code rank-analysis.json} holds (for a re-run). */
  static PublishSummary.RankSummary read(Path versionDir) throws IOException {
    JsonNode json = ContractJson.mapper().readTree(versionDir.resolve(JSON_FILE).toFile());
    return ContractJson.mapper().treeToValue(json.get("summary"), PublishSummary.RankSummary.class);
  }

  /**
   * The smallest rank capturing at least {@code threshold} of the best trial's top directions on
   * every module type; the best trial's own rank captures all of them.
   */
  static int recommend(int bestRank, List<PublishSummary.Capture> captures, double threshold) {
    return captures.stream()
        .filter(c -> c.rank() < bestRank)
        .filter(
            c ->
                !c.captured().isEmpty()
                    && c.captured().values().stream().allMatch(v -> v >= threshold))
        .mapToInt(PublishSummary.Capture::rank)
        .min()
        .orElse(bestRank);
  }

  private static double round(double v) {
    return Math.round(v * 1e4) / 1e4;
  }

  private static double[][] rounded(double[][] phi) {
    double[][] out = new double[phi.length][];
    for (int i = 0; i < phi.length; i++) {
      out[i] = new double[phi[i].length];
      for (int j = 0; j < phi[i].length; j++) {
        out[i][j] = round(phi[i][j]);
      }
    }
    return out;
  }
}
