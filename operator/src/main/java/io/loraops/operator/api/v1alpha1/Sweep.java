package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.List;
import lombok.Data;

/** The values to try; each combination is one trial. */
@Data
@ValidationRule(
    value =
        "has(self.rank) || has(self.alpha) || has(self.alphaPerRank) || has(self.learningRate)"
            + " || has(self.targetModules)",
    message = "sweep needs at least one of rank, alpha, alphaPerRank, learningRate, targetModules")
@ValidationRule(
    value = "!(has(self.alpha) && has(self.alphaPerRank))",
    message = "set sweep.alpha or sweep.alphaPerRank, not both")
public class Sweep {

  @Size(min = 1, max = 32)
  @ValidationRule(
      value = "self.all(r, r >= 1 && r <= 1024)",
      message = "sweep.rank values must be in 1..1024")
  @ValidationRule(
      value = "self.all(x, self.exists_one(y, y == x))",
      message = "sweep.rank values must be unique")
  @JsonPropertyDescription("Ranks to try, e.g. [4, 8, 16, 32].")
  private List<Integer> rank;

  @Size(min = 1, max = 32)
  @ValidationRule(value = "self.all(a, a > 0.0)", message = "sweep.alpha values must be positive")
  @ValidationRule(
      value = "self.all(x, self.exists_one(y, y == x))",
      message = "sweep.alpha values must be unique")
  @JsonPropertyDescription("Alphas to try.")
  private List<Double> alpha;

  @Min(value = 0, inclusive = false)
  @Max(64)
  @JsonPropertyDescription(
      "Instead of alpha: alpha = alphaPerRank x rank for each trial, so the scale alpha/r stays"
          + " fixed across a rank sweep.")
  private Double alphaPerRank;

  @Size(min = 1, max = 32)
  @ValidationRule(
      value = "self.all(l, l > 0.0 && l <= 1.0)",
      message = "sweep.learningRate values must be in (0, 1]")
  @ValidationRule(
      value = "self.all(x, self.exists_one(y, y == x))",
      message = "sweep.learningRate values must be unique")
  @JsonPropertyDescription("Learning rates to try.")
  private List<Double> learningRate;

  @Size(min = 1, max = 8)
  @ValidationRule(
      value = "self.all(x, self.exists_one(y, y == x))",
      message = "sweep.targetModules sets must be unique")
  @ValidationRule(
      value = "self.all(s, size(s) >= 1 && size(s) <= 32)",
      message = "each sweep.targetModules set needs 1 to 32 modules")
  @JsonPropertyDescription("Target-module sets to try, e.g. [[q_proj, v_proj], [all-linear]].")
  private List<List<String>> targetModules;

  @JsonPropertyDescription(
      "Grid tries every combination in a fixed order (rank, then alpha, learning rate, target"
          + " modules); Random tries combinations in a seeded random order without repeats."
          + " Default Grid.")
  private Strategy strategy = Strategy.Grid;

  @Min(1)
  @Max(1000)
  @JsonPropertyDescription("Upper bound on the number of trials (the first N in sweep order).")
  private Integer maxTrials;

  @Min(1)
  @Max(256)
  @JsonPropertyDescription("How many trial Jobs may run at once. Default 1.")
  private Integer parallelism = 1;

  @JsonPropertyDescription("Seed of the Random strategy's order. Default 0.")
  private Long seed = 0L;

  @JsonPropertyDescription("How trials are compared. Default: minimize evalLoss.")
  private Objective objective = new Objective();

  @JsonPropertyDescription(
      "Stops trials that are clearly worse than finished ones before their last step, freeing"
          + " their GPUs for the next trial (needs training.evalEverySteps). Default: off.")
  private EarlyStopping earlyStopping;

  /** Sweep strategies. */
  public enum Strategy {
    Grid,
    Random
  }
}
