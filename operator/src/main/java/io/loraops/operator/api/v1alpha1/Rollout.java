package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.IntOrString;
import java.util.ArrayList;
import java.util.List;
import lombok.Data;

/**
 * Canary steps with gates between them. Each step widens the set of pods serving the new version;
 * the gates (pods ready, the version listed by the server's /v1/models, a probe completion within
 * the latency bound) must pass on every pod of the step before the next one starts. A failing gate
 * rolls every target back to the previous serving version.
 */
@Data
public class Rollout {

  @Size(max = 10)
  @ValidationRule(
      value = "self.all(s, type(s) == int ? s >= 1 : s.matches('^([1-9][0-9]?|100)%$'))",
      message = "each step is a pod count (1, 2, ...) or a percentage of the pods (1% .. 100%)")
  @JsonPropertyDescription(
      "Canary steps: a pod count (\"1\" as an integer) or a percentage of each target's ready"
          + " pods, e.g. [1, 50%, 100%]. A final 100% step is implied. Only the hotLoad loader"
          + " has steps; restart follows the Deployment's own rolling update. Default [100%].")
  private List<IntOrString> steps = new ArrayList<>();

  @Min(0)
  @Max(86400)
  @JsonPropertyDescription("Seconds to wait after a step's gates pass. Default 0.")
  private Integer pauseSeconds = 0;

  @JsonPropertyDescription("The probe completion every updated pod must answer.")
  private Probe probe = new Probe();

  @JsonPropertyDescription(
      "With version: latest, promote a new version only if its evalLoss is lower than the"
          + " serving version's. Default false.")
  private Boolean requireLowerEvalLoss = false;

  /** A completion request sent to the new version on each updated pod. */
  @Data
  public static class Probe {
    @Size(min = 1, max = 4096)
    @JsonPropertyDescription("Prompt of the probe completion. Default \"Hello\".")
    private String prompt = "Hello";

    @Min(1)
    @Max(256)
    @JsonPropertyDescription("max_tokens of the probe completion. Default 4.")
    private Integer maxTokens = 4;

    @Min(1)
    @Max(600000)
    @JsonPropertyDescription(
        "The probe must be answered without error within this many milliseconds. Default"
            + " 10000.")
    private Integer latencyBoundMillis = 10000;

    @Min(0)
    @JsonPropertyDescription(
        "Optional: the most, in nats, that the mean log-probability of the new version's greedy"
            + " probe answer may differ from the reference's (the serving version, or the base"
            + " model when none serves), each scoring its own answer. Catches weights that are"
            + " finite but broken: an exploded adapter answers with near-certain noise, a"
            + " collapsed one with a flat distribution. Empty: not checked.")
    private Double maxLogprobShift;
  }
}
