package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import lombok.Data;

/**
 * A sweep's rank analysis in a few lines (the full matrices are in rank-analysis.json next to the
 * published version). Bounded: one line per compared rank, at most {@code MAX_LINES}.
 */
@Data
public class RankAnalysisStatus {

  public static final int MAX_LINES = 8;

  @JsonPropertyDescription("The best trial's rank.")
  private Integer bestRank;

  @JsonPropertyDescription("k: how many of the best trial's top singular directions are compared.")
  private Integer topDirections;

  @JsonPropertyDescription(
      "The share of those directions a rank must capture on every module type to be recommended.")
  private Double threshold;

  @JsonPropertyDescription(
      "The smallest rank whose subspace captures at least threshold of the best trial's top"
          + " directions on every adapted module type (the best trial's own rank at worst).")
  private Integer recommendedRank;

  @JsonPropertyDescription(
      "One line per other rank, e.g. 'rank 8 captures 0.93 of rank 32's top-4 directions on"
          + " q_proj, 0.88 on v_proj' (phi(A_best, A_rank, k, rank), mean over layers).")
  private List<String> summary = new ArrayList<>();

  @JsonPropertyDescription("rank-analysis.json: every phi(i, j) matrix, per rank and module type.")
  private String analysisUri;

  @JsonPropertyDescription("rank-analysis.svg: the phi heatmaps.")
  private String heatmapUri;

  @JsonPropertyDescription("Why the analysis could not be made, when it could not.")
  private String message;
}
