package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.operator.api.v1alpha1.TrialProgress;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.util.List;
import org.junit.jupiter.api.Test;

class SweepProgressTest {

  @Test
  void percentAndTimeLeftFromTheRunningTrialsSpeed() {
    // 4 trials of 100 steps, 2 at a time, 2 s per step: t000 done, t001 at 50, two waiting.
    List<TrialStatus> trials =
        List.of(
            trial("t000", "Succeeded", 100, 100, 200.0),
            trial("t001", "Running", 50, 100, 100.0),
            trial("t002", "Waiting", null, null, null),
            trial("t003", "Waiting", null, null, null));

    SweepProgress.Summary s = SweepProgress.summarize(trials, 2, 1);

    assertThat(s.percentComplete()).as("150 of 400 steps").isEqualTo(37);
    // work left: 50 x 2 + 2 x 100 x 2 = 500 s over 2 slots = 250 s
    assertThat(s.etaSeconds()).isEqualTo(250);
    assertThat(s.eta()).isEqualTo("4m10s");
    assertThat(s.running()).isEqualTo("t001 50/100 loss 2.000 eval 2.100 900 tok/s 1m40s left");
    assertThat(s.earlyStopping()).isNull();
  }

  @Test
  void timeLeftIsAtLeastTheLongestRunningTrial() {
    List<TrialStatus> trials =
        List.of(trial("t000", "Running", 10, 100, 100.0), trial("t001", "Running", 90, 100, 90.0));

    assertThat(SweepProgress.summarize(trials, 4, 1).etaSeconds()).isEqualTo(900);
  }

  @Test
  void earlyStoppedTrialsReportWhatTheySaved() {
    List<TrialStatus> trials =
        List.of(
            trial("t000", "Succeeded", 100, 100, 200.0),
            trial("t001", "EarlyStopped", 20, 100, 40.0));

    SweepProgress.Summary s = SweepProgress.summarize(trials, 2, 2);

    assertThat(s.percentComplete()).isEqualTo(100);
    assertThat(s.etaSeconds()).isNull();
    assertThat(s.earlyStopping().getStoppedTrials()).isEqualTo(1);
    assertThat(s.earlyStopping().getStepsSaved()).isEqualTo(80);
    assertThat(s.earlyStopping().getTrialSecondsSaved()).isEqualTo(160);
    assertThat(s.earlyStopping().getGpuSecondsSaved()).as("2 GPUs").isEqualTo(320);
  }

  @Test
  void nothingIsEstimatedBeforeAnyProgress() {
    SweepProgress.Summary s =
        SweepProgress.summarize(List.of(trial("t000", "Pending", null, null, null)), 1, 1);
    assertThat(s.percentComplete()).isNull();
    assertThat(s.etaSeconds()).isNull();
    assertThat(s.running()).isNull();
  }

  @Test
  void durationsReadLikeKubectls() {
    assertThat(SweepProgress.duration(45)).isEqualTo("45s");
    assertThat(SweepProgress.duration(750)).isEqualTo("12m30s");
    assertThat(SweepProgress.duration(11_100)).isEqualTo("3h05m");
  }

  static TrialStatus trial(String name, String phase, Integer step, Integer total, Double elapsed) {
    TrialStatus t = new TrialStatus();
    t.setName(name);
    t.setPhase(phase);
    if (step != null) {
      TrialProgress p = new TrialProgress();
      p.setStep(step.longValue());
      p.setTotalSteps(total.longValue());
      p.setElapsedSeconds(elapsed);
      p.setTrainLoss(2.0);
      p.setEvalLoss(2.1);
      p.setTokensPerSecond(900.0);
      p.setEtaSeconds(Math.round(elapsed / step * (total - step)));
      t.setProgress(p);
    }
    return t;
  }
}
