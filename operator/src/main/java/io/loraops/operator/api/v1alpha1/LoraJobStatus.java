package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;
import lombok.Data;

/** Observed state of a LoraJob. Conditions are the truth; phase is a summary for people. */
@Data
public class LoraJobStatus {

  @JsonPropertyDescription("The metadata.generation this status was computed for.")
  private Long observedGeneration;

  @JsonPropertyDescription(
      "One-word summary for people, derived from the conditions: Pending, Running, Suspended,"
          + " Succeeded or Failed. Automation should read conditions instead.")
  private String phase;

  @JsonPropertyDescription(
      "Conditions: Progressing, Suspended, Complete, Failed, and Reconciling and Stalled for"
          + " kstatus (Flux) (see docs/conditions.md for every reason).")
  private List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("Finished trials / all trials, e.g. 3/4.")
  private String progress;

  @JsonPropertyDescription("Number of trials in the expanded sweep.")
  private Integer trialsTotal;

  @JsonPropertyDescription("Trials that succeeded.")
  private Integer trialsSucceeded;

  @JsonPropertyDescription("Trials that failed for good (retries exhausted or not retryable).")
  private Integer trialsFailed;

  @JsonPropertyDescription("Trials whose Job exists and has not finished.")
  private Integer trialsActive;

  @JsonPropertyDescription(
      "Share of the sweep's optimizer steps done, in percent (finished trials count in full).")
  private Integer percentComplete;

  @JsonPropertyDescription(
      "Estimated time until every trial has ended, e.g. 12m30s (from the running trials' measured"
          + " seconds per step and sweep.parallelism); absent until a trial reports progress.")
  private String eta;

  @JsonPropertyDescription(
      "The running trials in one line, e.g. 't001 120/400 loss 2.31 eval 2.41 850 tok/s 3m10s"
          + " left' (kubectl get lj -o wide).")
  private String running;

  @JsonPropertyDescription("Trials stopped early by sweep.earlyStopping.")
  private Integer trialsEarlyStopped;

  @JsonPropertyDescription("What sweep.earlyStopping saved, once it stopped a trial.")
  private EarlyStoppingStatus earlyStopping;

  @JsonPropertyDescription("Every trial of the sweep, in sweep order.")
  private List<TrialStatus> trials = new ArrayList<>();

  @JsonPropertyDescription("The trial chosen by the objective, once all trials have finished.")
  private BestTrial bestTrial;

  @JsonPropertyDescription("The LoraAdapter version this job published, once published.")
  private Integer publishedVersion;

  @JsonPropertyDescription(
      "After a sweep over several ranks: how much of the best trial's subspace each other rank"
          + " captures (the LoRA paper's phi), and the smallest rank that suffices.")
  private RankAnalysisStatus rankAnalysis;
}
