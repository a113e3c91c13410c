package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.sweep.SweepExpander;
import io.loraops.operator.sweep.Trial;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TrialSchedulerTest {

  LoraJobSpec spec = Fixtures.load("support-bot-sweep.yaml", LoraJob.class).getSpec();
  List<Trial> trials = SweepExpander.expand(spec);
  Map<String, Job> jobs = new HashMap<>();

  @Test
  void startsTrialsInOrderUpToParallelism() {
    assertThat(plan(false, "Waiting", "Waiting", "Waiting", "Waiting").toCreate())
        .extracting(Trial::name)
        .containsExactly("t000", "t001");
    assertThat(plan(false, "Succeeded", "Running", "Waiting", "Waiting").toCreate())
        .extracting(Trial::name)
        .containsExactly("t002");
    assertThat(plan(false, "Pending", "Running", "Waiting", "Waiting").toCreate()).isEmpty();
    assertThat(plan(false, "Failed", "Succeeded", "Queued", "Waiting").toCreate())
        .extracting(Trial::name)
        .containsExactly("t003");
  }

  @Test
  void suspendStartsNothingAndSuspendsRunningJobs() {
    spec.setSuspend(true);
    TrialScheduler.Plan plan = plan(false, "Succeeded", "Running", "Waiting", "Waiting");
    assertThat(plan.toCreate()).isEmpty();
    assertThat(plan.toSuspend()).containsExactly("job-t001");
    assertThat(plan.toResume()).isEmpty();
  }

  @Test
  void resumeUnsuspendsUnlessKueueAdmits() {
    TrialScheduler.Plan plan = plan(false, "Succeeded", "Suspended", "Waiting", "Waiting");
    assertThat(plan.toResume()).containsExactly("job-t001");
    assertThat(plan(true, "Succeeded", "Queued", "Waiting", "Waiting").toResume())
        .as("Kueue, not the operator, unsuspends queued Jobs")
        .isEmpty();
  }

  @Test
  void underKueueSuspendDeactivatesWorkloadsAndNeverWritesJobSuspend() {
    spec.setSuspend(true);
    TrialScheduler.Plan plan = plan(true, "Succeeded", "Running", "Queued", "Waiting");
    assertThat(plan.toSuspend()).as("Kueue owns an admitted Job's spec.suspend").isEmpty();
    assertThat(plan.toCreate()).isEmpty();
    assertThat(plan.toDeactivate())
        .extracting(j -> j.getMetadata().getName())
        .containsExactly("job-t001", "job-t002");

    // Once recorded on the Jobs, nothing more is written: no loop.
    jobs.values().forEach(TrialSchedulerTest::markDeactivated);
    TrialScheduler.Plan again = plan(true, "Succeeded", "Suspended", "Suspended", "Waiting");
    assertThat(again.toDeactivate()).isEmpty();
    assertThat(again.toSuspend()).isEmpty();

    spec.setSuspend(false);
    TrialScheduler.Plan resume = plan(true, "Succeeded", "Suspended", "Suspended", "Waiting");
    assertThat(resume.toActivate())
        .extracting(j -> j.getMetadata().getName())
        .containsExactly("job-t001", "job-t002");
    assertThat(resume.toResume()).isEmpty();
  }

  private static void markDeactivated(Job job) {
    job.getMetadata().setAnnotations(Map.of("loraops.io/workload-deactivated", "true"));
  }

  private TrialScheduler.Plan plan(boolean queued, String... phases) {
    List<TrialStatus> statuses = new ArrayList<>();
    for (int i = 0; i < phases.length; i++) {
      TrialStatus s = new TrialStatus();
      s.setName(trials.get(i).name());
      s.setPhase(phases[i]);
      statuses.add(s);
      if (!phases[i].equals("Waiting") && !jobs.containsKey(s.getName())) {
        boolean suspended = phases[i].equals("Suspended") || phases[i].equals("Queued");
        jobs.put(
            s.getName(),
            new JobBuilder()
                .withNewMetadata()
                .withName("job-" + s.getName())
                .endMetadata()
                .withNewSpec()
                .withSuspend(suspended)
                .endSpec()
                .build());
      }
    }
    return TrialScheduler.plan(spec, trials, statuses, jobs, queued);
  }
}
