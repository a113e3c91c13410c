package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobStatus;
import io.loraops.operator.api.v1alpha1.Objective;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.sweep.SweepExpander;
import io.loraops.operator.sweep.Trial;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LoraJobStatusCalculatorTest {

  static final Instant T0 = Instant.parse("2026-11-22T06:00:00Z");
  static final Instant T1 = Instant.parse("2026-11-22T06:05:00Z");

  LoraJob job = Fixtures.load("support-bot-sweep.yaml", LoraJob.class);
  List<Trial> trials = SweepExpander.expand(job.getSpec());

  @Test
  void everyConditionIsPresentFromTheFirstReconcile() {
    LoraJobStatus status =
        compute(
            statuses("Waiting", "Waiting", "Waiting", "Waiting"),
            PublishOutcome.notAttempted(),
            T0);

    assertThat(status.getConditions())
        .extracting(Condition::getType)
        .containsExactly(
            "Progressing", "Suspended", "Complete", "Failed", "Synced", "Reconciling", "Stalled");
    assertThat(status.getConditions())
        .allSatisfy(
            c -> {
              assertThat(c.getObservedGeneration()).isEqualTo(1L);
              assertThat(c.getLastTransitionTime()).isEqualTo(T0.toString());
              assertThat(c.getReason()).matches("[A-Z][A-Za-z]+");
            });
    assertThat(status.getPhase()).isEqualTo("Pending");
    assertThat(status.getProgress()).isEqualTo("0/4");
    assertThat(status.getObservedGeneration()).isEqualTo(1L);
  }

  @Test
  void transitionTimeMovesOnlyWhenStatusFlips() {
    job.setStatus(
        compute(
            statuses("Running", "Running", "Waiting", "Waiting"),
            PublishOutcome.notAttempted(),
            T0));
    LoraJobStatus later =
        compute(
            statuses("Succeeded", "Running", "Running", "Waiting"),
            PublishOutcome.notAttempted(),
            T1);

    Condition progressing = Conditions.find(later.getConditions(), "Progressing").orElseThrow();
    assertThat(progressing.getStatus()).isEqualTo("True");
    assertThat(progressing.getLastTransitionTime()).isEqualTo(T0.toString());
    assertThat(progressing.getMessage()).isEqualTo("1/4 trials finished, 2 active");
    assertThat(later.getPhase()).isEqualTo("Running");

    job.setStatus(later);
    LoraJobStatus done =
        compute(
            statuses("Succeeded", "Succeeded", "Succeeded", "Failed"),
            PublishOutcome.published(3),
            T1);
    assertThat(Conditions.find(done.getConditions(), "Complete").orElseThrow())
        .satisfies(
            c -> {
              assertThat(c.getStatus()).isEqualTo("True");
              assertThat(c.getReason()).isEqualTo("VersionPublished");
              assertThat(c.getLastTransitionTime()).isEqualTo(T1.toString());
            });
    assertThat(Conditions.changed(later.getConditions(), done.getConditions()))
        .extracting(Condition::getType)
        .containsExactly("Progressing", "Complete", "Reconciling");
  }

  @Test
  void succeededSweepNamesTheBestTrialAndVersion() {
    LoraJobStatus status =
        compute(
            statuses("Succeeded", "Succeeded", "Succeeded", "Failed"),
            PublishOutcome.published(3),
            T0);
    assertThat(status.getPhase()).isEqualTo("Succeeded");
    assertThat(status.getBestTrial().getName()).isEqualTo("t002");
    assertThat(status.getBestTrial().getRank()).isEqualTo(8);
    assertThat(status.getPublishedVersion()).isEqualTo(3);
    // the summary shows 4 significant digits; the trial keeps the exact value
    assertThat(BestTrialSelector.readable(1.2345678901234)).isEqualTo(1.235);
    assertThat(BestTrialSelector.readable(0.000123456)).isEqualTo(0.0001235);
    assertThat(BestTrialSelector.readable(null)).isNull();
    assertThat(status.getTrialsFailed()).isEqualTo(1);
    assertThat(Conditions.isTrue(status.getConditions(), "Failed"))
        .as("one failed trial does not fail the sweep")
        .isFalse();
  }

  @Test
  void allTrialsFailedFailsTheJobWithEveryReason() {
    LoraJobStatus status =
        compute(
            statuses("Failed", "Failed", "Failed", "Failed"), PublishOutcome.notAttempted(), T0);
    Condition failed = Conditions.find(status.getConditions(), "Failed").orElseThrow();
    assertThat(failed.getStatus()).isEqualTo("True");
    assertThat(failed.getReason()).isEqualTo("AllTrialsFailed");
    assertThat(failed.getMessage()).contains("t000: OutOfMemory");
    assertThat(status.getPhase()).isEqualTo("Failed");
    assertThat(Conditions.changed(null, status.getConditions()))
        .filteredOn(c -> c.getType().equals("Failed"))
        .singleElement()
        .satisfies(c -> assertThat(LoraJobStatusCalculator.eventType(c)).contains("Warning"));
  }

  /** A claimed version whose publish Job runs is not published: Complete False Publishing. */
  @Test
  void aPublishJobThatRunsIsPublishingAndAVerifiedOneCarriesTheRankAnalysis() {
    List<TrialStatus> done = statuses("Succeeded", "Succeeded", "Succeeded", "Succeeded");
    LoraJobStatus publishing =
        compute(done, PublishOutcome.publishing(3, "publish Job x copies the best trial"), T0);
    Condition complete = Conditions.find(publishing.getConditions(), "Complete").orElseThrow();
    assertThat(complete.getStatus()).isEqualTo("False");
    assertThat(complete.getReason()).isEqualTo("Publishing");
    assertThat(complete.getMessage())
        .isEqualTo("publishing version 3: publish Job x copies the best trial");
    assertThat(publishing.getPublishedVersion()).isNull();
    assertThat(publishing.getRankAnalysis()).isNull();

    io.loraops.operator.api.v1alpha1.RankAnalysisStatus ranks =
        new io.loraops.operator.api.v1alpha1.RankAnalysisStatus();
    ranks.setRecommendedRank(4);
    LoraJobStatus published = compute(done, PublishOutcome.published(3, ranks), T0);
    assertThat(published.getPublishedVersion()).isEqualTo(3);
    assertThat(published.getRankAnalysis().getRecommendedRank()).isEqualTo(4);
  }

  @Test
  void aFailedPublishJobFailsTheJobAndKeepsTheResults() {
    LoraJobStatus status =
        compute(
            statuses("Succeeded", "Succeeded", "Succeeded", "Succeeded"),
            PublishOutcome.refused(Reasons.PUBLISH_FAILED, "publish Job x failed"),
            T0);
    assertThat(Conditions.find(status.getConditions(), "Failed").orElseThrow().getReason())
        .isEqualTo("PublishFailed");
    assertThat(status.getPhase()).isEqualTo("Failed");
    assertThat(status.getTrialsSucceeded()).isEqualTo(4);
  }

  @Test
  void refusedPublishIsAFailureThatKeepsTheResults() {
    LoraJobStatus status =
        compute(
            statuses("Succeeded", "Succeeded", "Succeeded", "Succeeded"),
            PublishOutcome.refused(
                "BaseModelMismatch", "LoraAdapter support-bot is for base model llama"),
            T0);
    assertThat(Conditions.find(status.getConditions(), "Failed").orElseThrow().getReason())
        .isEqualTo("BaseModelMismatch");
    assertThat(status.getBestTrial()).isNotNull();
    assertThat(status.getTrialsSucceeded()).isEqualTo(4);
  }

  @Test
  void suspendedSweepSaysSo() {
    job.getSpec().setSuspend(true);
    LoraJobStatus status =
        compute(
            statuses("Succeeded", "Suspended", "Waiting", "Waiting"),
            PublishOutcome.notAttempted(),
            T0);
    assertThat(status.getPhase()).isEqualTo("Suspended");
    assertThat(Conditions.isTrue(status.getConditions(), "Suspended")).isTrue();
    assertThat(Conditions.find(status.getConditions(), "Progressing").orElseThrow().getReason())
        .isEqualTo("Suspended");
  }

  @Test
  void suspendSaysWhatItDoesWithAndWithoutKueue() {
    job.getSpec().setSuspend(true);
    List<TrialStatus> running = statuses("Succeeded", "Suspended", "Waiting", "Waiting");
    assertThat(job.getMetadata().getLabels()).containsKey("kueue.x-k8s.io/queue-name");
    assertThat(suspended(compute(running, PublishOutcome.notAttempted(), T0)).getMessage())
        .contains("Workloads of existing ones are deactivated");
    job.getMetadata().setLabels(Map.of());
    assertThat(suspended(compute(running, PublishOutcome.notAttempted(), T0)).getMessage())
        .contains("running trial Jobs are suspended");
  }

  @Test
  void aFinishedJobWithSuspendDoesNotClaimSuspendIsFalse() {
    job.getSpec().setSuspend(true);
    LoraJobStatus status =
        compute(
            statuses("Succeeded", "Succeeded", "Succeeded", "Failed"),
            PublishOutcome.published(3),
            T0);
    Condition suspended = suspended(status);
    assertThat(suspended.getStatus()).isEqualTo("False");
    assertThat(suspended.getReason()).isEqualTo("Finished");
    assertThat(suspended.getMessage()).doesNotContain("spec.suspend is false");
  }

  @Test
  void kstatusConditionsFollowProgressingAndFailed() {
    LoraJobStatus running =
        compute(
            statuses("Succeeded", "Running", "Waiting", "Waiting"),
            PublishOutcome.notAttempted(),
            T0);
    assertThat(condition(running, "Reconciling").getStatus()).isEqualTo("True");
    assertThat(condition(running, "Reconciling").getMessage())
        .isEqualTo(condition(running, "Progressing").getMessage());
    assertThat(condition(running, "Stalled").getStatus()).isEqualTo("False");

    LoraJobStatus failed =
        compute(
            statuses("Failed", "Failed", "Failed", "Failed"), PublishOutcome.notAttempted(), T0);
    assertThat(condition(failed, "Stalled").getStatus()).isEqualTo("True");
    assertThat(condition(failed, "Stalled").getReason()).isEqualTo("AllTrialsFailed");
    assertThat(condition(failed, "Reconciling").getStatus()).isEqualTo("False");
    assertThat(LoraJobStatusCalculator.eventType(condition(failed, "Stalled")))
        .as("Failed already has its Event")
        .isEmpty();

    LoraJobStatus done =
        compute(
            statuses("Succeeded", "Succeeded", "Succeeded", "Succeeded"),
            PublishOutcome.published(1),
            T0);
    assertThat(condition(done, "Reconciling").getStatus()).isEqualTo("False");
    assertThat(condition(done, "Stalled").getStatus()).isEqualTo("False");
  }

  private static Condition suspended(LoraJobStatus status) {
    return condition(status, "Suspended");
  }

  private static Condition condition(LoraJobStatus status, String type) {
    return Conditions.find(status.getConditions(), type).orElseThrow();
  }

  @Test
  void maximizeGoalAndTiesGoToTheEarlierTrial() {
    List<TrialStatus> trials = statuses("Succeeded", "Succeeded", "Succeeded", "Succeeded");
    trials.get(3).getMetrics().setEvalLoss(trials.get(2).getMetrics().getEvalLoss());
    Objective min = new Objective();
    assertThat(BestTrialSelector.select(trials, min).orElseThrow().getName()).isEqualTo("t002");
    Objective max = new Objective();
    max.setGoal(Objective.Goal.Maximize);
    assertThat(BestTrialSelector.select(trials, max).orElseThrow().getName()).isEqualTo("t000");
  }

  private LoraJobStatus compute(List<TrialStatus> statuses, PublishOutcome publish, Instant now) {
    return LoraJobStatusCalculator.compute(job, statuses, publish, now);
  }

  private List<TrialStatus> statuses(String... phases) {
    return statuses(trials, phases);
  }

  /** Trial statuses in the given phases; eval losses 2.0, 1.8, 1.2, 1.5; failures are OOM. */
  static List<TrialStatus> statuses(List<Trial> trials, String... phases) {
    double[] losses = {2.0, 1.8, 1.2, 1.5};
    List<TrialStatus> list = new ArrayList<>();
    for (int i = 0; i < phases.length; i++) {
      TrialStatus s = new TrialStatus();
      s.setName(trials.get(i).name());
      s.setIndex(i);
      s.setParameters(trials.get(i).parameters());
      s.setPhase(phases[i]);
      s.setReason(phases[i].equals("Failed") ? "OutOfMemory" : "Whatever");
      if (phases[i].equals("Succeeded")) {
        TrialMetrics m = new TrialMetrics();
        m.setEvalLoss(losses[i]);
        s.setMetrics(m);
      }
      list.add(s);
    }
    return list;
  }
}
