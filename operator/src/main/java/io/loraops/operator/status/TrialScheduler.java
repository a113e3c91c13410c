package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.sweep.Trial;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Decides which trial Jobs to create, suspend or resume. Pure. */
public final class TrialScheduler {

  private TrialScheduler() {}

  /**
   * @param toCreate trials whose Job should be created now, in sweep order
   * @param toSuspend names of Jobs to suspend
   * @param toResume names of Jobs to resume
   */
  public record Plan(List<Trial> toCreate, List<String> toSuspend, List<String> toResume) {}

  /**
   * @param statuses observed status per trial, same order as {@code trials}
   * @param jobs existing trial Jobs by trial name
   * @param queued whether Kueue admits the trials (then Kueue, not the operator, unsuspends them)
   */
  public static Plan plan(
      LoraJobSpec spec,
      List<Trial> trials,
      List<TrialStatus> statuses,
      Map<String, Job> jobs,
      boolean queued) {
    boolean suspend = Boolean.TRUE.equals(spec.getSuspend());
    int parallelism = spec.getSweep() == null ? 1 : spec.getSweep().getParallelism();

    long holdingSlots = statuses.stream().filter(s -> TrialPhase.holdsSlot(s.getPhase())).count();
    List<Trial> toCreate = new ArrayList<>();
    if (!suspend) {
      for (int i = 0; i < trials.size() && holdingSlots + toCreate.size() < parallelism; i++) {
        if (TrialPhase.WAITING.equals(statuses.get(i).getPhase())) {
          toCreate.add(trials.get(i));
        }
      }
    }

    List<String> toSuspend = new ArrayList<>();
    List<String> toResume = new ArrayList<>();
    for (TrialStatus status : statuses) {
      Job job = jobs.get(status.getName());
      if (job == null || TrialPhase.isTerminal(status.getPhase())) {
        continue;
      }
      boolean jobSuspended = Boolean.TRUE.equals(job.getSpec().getSuspend());
      if (suspend && !jobSuspended) {
        toSuspend.add(job.getMetadata().getName());
      } else if (!suspend && jobSuspended && !queued) {
        toResume.add(job.getMetadata().getName());
      }
    }
    return new Plan(toCreate, toSuspend, toResume);
  }
}
