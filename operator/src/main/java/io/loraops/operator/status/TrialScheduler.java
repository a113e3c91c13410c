package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.support.Labels;
import io.loraops.operator.sweep.Trial;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Decides which trial Jobs to create, suspend or resume. Pure.
 *
 * <p>Under Kueue (the queue label), Kueue owns an admitted Job's {@code spec.suspend} and sets it
 * back at once: writing it would start a loop of evictions and re-admissions. There the documented
 * way to pause a Job is to deactivate its Workload ({@code spec.active: false}; Kueue evicts it and
 * admits it no more), so queued trials are deactivated and activated instead.
 */
public final class TrialScheduler {

  private TrialScheduler() {}

  /**
   * @param toCreate trials whose Job should be created now, in sweep order
   * @param toSuspend names of Jobs to suspend
   * @param toResume names of Jobs to resume
   * @param toDeactivate queued Jobs whose Kueue Workload to deactivate
   * @param toActivate queued Jobs whose Kueue Workload to activate again
   */
  public record Plan(
      List<Trial> toCreate,
      List<String> toSuspend,
      List<String> toResume,
      List<Job> toDeactivate,
      List<Job> toActivate) {}

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
    List<Job> toDeactivate = new ArrayList<>();
    List<Job> toActivate = new ArrayList<>();
    for (TrialStatus status : statuses) {
      Job job = jobs.get(status.getName());
      if (job == null || TrialPhase.isTerminal(status.getPhase())) {
        continue;
      }
      if (queued) {
        boolean deactivated = Labels.isWorkloadDeactivated(job);
        if (suspend && !deactivated) {
          toDeactivate.add(job);
        } else if (!suspend && deactivated) {
          toActivate.add(job);
        }
        continue;
      }
      boolean jobSuspended = Boolean.TRUE.equals(job.getSpec().getSuspend());
      if (suspend && !jobSuspended) {
        toSuspend.add(job.getMetadata().getName());
      } else if (!suspend && jobSuspended) {
        toResume.add(job.getMetadata().getName());
      }
    }
    return new Plan(toCreate, toSuspend, toResume, toDeactivate, toActivate);
  }
}
