package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.contract.PublishSummary;
import io.loraops.operator.api.v1alpha1.RankAnalysisStatus;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RankAnalysisSummaryTest {

  static PublishSummary.Capture capture(int rank, double q, double v) {
    Map<String, Double> captured = new LinkedHashMap<>();
    captured.put("q_proj", q);
    captured.put("v_proj", v);
    return new PublishSummary.Capture(rank, "t00" + rank, captured);
  }

  @Test
  void oneLinePerRankAndTheRecommendation() {
    RankAnalysisStatus status =
        RankAnalysisSummary.of(
            new PublishSummary.RankSummary(
                32, 4, 0.9, 8, List.of(capture(4, 0.61, 0.5), capture(8, 0.934, 0.91)), null),
            "pvc://adapters/bot/v3");

    assertThat(status.getRecommendedRank()).isEqualTo(8);
    assertThat(status.getSummary())
        .containsExactly(
            "rank 4 captures 0.61 of rank 32's top-4 directions on q_proj, 0.50 on v_proj",
            "rank 8 captures 0.93 of rank 32's top-4 directions on q_proj, 0.91 on v_proj");
    assertThat(status.getAnalysisUri()).isEqualTo("pvc://adapters/bot/v3/rank-analysis.json");
    assertThat(status.getHeatmapUri()).isEqualTo("pvc://adapters/bot/v3/rank-analysis.svg");
  }

  @Test
  void theSummaryIsBounded() {
    List<PublishSummary.Capture> many = new ArrayList<>();
    for (int r = 1; r <= 40; r++) {
      many.add(capture(r, 0.5, 0.5));
    }
    RankAnalysisStatus status =
        RankAnalysisSummary.of(
            new PublishSummary.RankSummary(64, 4, 0.9, 64, many, null), "pvc://a/bot/v1");
    assertThat(status.getSummary()).hasSize(RankAnalysisStatus.MAX_LINES);
  }

  @Test
  void aFailedAnalysisSaysWhyAndPointsAtNoFile() {
    RankAnalysisStatus status =
        RankAnalysisSummary.of(
            new PublishSummary.RankSummary(8, 4, 0.9, null, List.of(), "rank analysis failed: x"),
            "pvc://a/bot/v1");
    assertThat(status.getMessage()).isEqualTo("rank analysis failed: x");
    assertThat(status.getAnalysisUri()).isNull();
    assertThat(status.getSummary()).isEmpty();
    assertThat(RankAnalysisSummary.of(null, "pvc://a/bot/v1")).isNull();
  }
}
