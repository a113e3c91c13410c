package io.loraops.operator.status;

import io.loraops.contract.PublishSummary;
import io.loraops.operator.api.v1alpha1.RankAnalysisStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code status.rankAnalysis} from the publish Job's report. Pure; bounded in size. */
public final class RankAnalysisSummary {

  static final String JSON_FILE = "rank-analysis.json";
  static final String SVG_FILE = "rank-analysis.svg";

  private RankAnalysisSummary() {}

  /**
   * @param ranks the Job's summary of the analysis, or null when none was asked for
   * @param versionUri the version folder the files were written to
   */
  public static RankAnalysisStatus of(PublishSummary.RankSummary ranks, String versionUri) {
    if (ranks == null) {
      return null;
    }
    RankAnalysisStatus status = new RankAnalysisStatus();
    status.setBestRank(ranks.bestRank());
    status.setTopDirections(ranks.topDirections());
    status.setThreshold(ranks.threshold());
    status.setRecommendedRank(ranks.recommendedRank());
    status.setMessage(ranks.message());
    if (ranks.recommendedRank() == null) {
      return status; // the analysis failed: no files were written
    }
    String folder = versionUri.endsWith("/") ? versionUri : versionUri + "/";
    status.setAnalysisUri(folder + JSON_FILE);
    status.setHeatmapUri(folder + SVG_FILE);
    ranks.captures().stream()
        .limit(RankAnalysisStatus.MAX_LINES)
        .map(c -> line(c, ranks.bestRank(), ranks.topDirections()))
        .forEach(status.getSummary()::add);
    return status;
  }

  /** "rank 8 captures 0.93 of rank 32's top-4 directions on q_proj, 0.88 on v_proj". */
  static String line(PublishSummary.Capture c, int bestRank, int k) {
    List<String> parts = new ArrayList<>();
    for (Map.Entry<String, Double> e : c.captured().entrySet()) {
      parts.add(
          parts.isEmpty()
              ? String.format(
                  Locale.ROOT,
                  "%.2f of rank %d's top-%d directions on %s",
                  e.getValue(),
                  bestRank,
                  k,
                  e.getKey())
              : String.format(Locale.ROOT, "%.2f on %s", e.getValue(), e.getKey()));
    }
    return "rank "
        + c.rank()
        + " captures "
        + (parts.isEmpty() ? "no module the best trial adapts" : String.join(", ", parts));
  }
}
