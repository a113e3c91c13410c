package io.loraops.operator.reconciler;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.loraops.operator.api.v1alpha1.EarlyStopping;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.metrics.LoraMetrics;
import io.loraops.operator.status.AshaStoppingRule;
import io.loraops.operator.status.MedianStoppingRule;
import io.loraops.operator.status.Reasons;
import io.loraops.operator.status.StopDecision;
import io.loraops.operator.status.TrialPhase;
import io.loraops.operator.support.EventRecorder;
import io.loraops.operator.support.Labels;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Stops the trials {@code sweep.earlyStopping} judges worse than the others (its rule: {@link
 * MedianStoppingRule} or {@link AshaStoppingRule}).
 *
 * <p>A stopped trial's result (phase {@code EarlyStopped}, the rule's numbers) is recorded on its
 * Job in the same write that suspends it, so the decision is durable before anything depends on it:
 * the Job controller deletes the pod (the GPU is free at once), the trial no longer holds a
 * parallelism slot, and the Job stays with its record (deleting it would lose the record; the
 * checkpoint on the output volume is kept as well). Under Kueue, which owns an admitted Job's
 * {@code spec.suspend}, the trial's Workload is deactivated instead.
 */
final class EarlyStopper {

  private static final Logger LOG = Logger.getLogger(EarlyStopper.class);

  private final LoraMetrics metrics;
  private final EventRecorder events;

  EarlyStopper(LoraMetrics metrics, EventRecorder events) {
    this.metrics = metrics;
    this.events = events;
  }

  /**
   * @param observed the trials as observed now; stopped ones are replaced by their stopped status
   * @param trialJobs the trials' Jobs; a stopped trial's is replaced by the Job as patched (its
   *     result recorded), so the rest of the reconcile does not record its end a second time (as a
   *     failed trial, with a Warning Event)
   * @param deactivateWorkload deactivates a queued Job's Kueue Workload
   */
  void stopTrials(
      KubernetesClient client,
      InformerEventSource<Job, LoraJob> jobs,
      LoraJob loraJob,
      List<TrialStatus> observed,
      Map<String, Job> trialJobs,
      Consumer<Job> deactivateWorkload,
      Instant now) {
    if (loraJob.getSpec().getSweep() == null) {
      return;
    }
    EarlyStopping rule = loraJob.getSpec().getSweep().getEarlyStopping();
    if (rule == null) {
      return;
    }
    List<? extends StopDecision> decisions =
        switch (rule.getRule()) {
          case Median -> MedianStoppingRule.decide(rule, observed);
          case ASHA -> AshaStoppingRule.decide(loraJob.getSpec(), observed);
        };
    for (StopDecision decision : decisions) {
      TrialStatus trial =
          observed.stream().filter(t -> t.getName().equals(decision.trial())).findFirst().get();
      Job job = trialJobs.get(trial.getName());
      if (job == null) {
        continue;
      }
      stopped(trial, decision, now);
      boolean queued = Labels.isQueued(job);
      Job updated = TrialJobs.recordResult(client, jobs, loraJob, job, trial, !queued);
      trialJobs.put(trial.getName(), updated);
      if (queued) {
        deactivateWorkload.accept(updated);
      }

      metrics.trialFinished(
          loraJob.getMetadata().getNamespace(),
          loraJob.getSpec().getAdapter(),
          "early_stopped",
          trial.getProgress() == null ? null : trial.getProgress().getElapsedSeconds());
      events.record(
          client,
          loraJob,
          EventRecorder.NORMAL,
          Reasons.TRIAL_EARLY_STOPPED,
          "trial "
              + trial.getName()
              + " (rank "
              + trial.getParameters().getRank()
              + ", alpha "
              + trial.getParameters().getAlpha()
              + ", lr "
              + trial.getParameters().getLearningRate()
              + "): "
              + decision.message(),
          now);
      LOG.infof(
          "%s/%s trial %s stopped early: %s",
          loraJob.getMetadata().getNamespace(),
          loraJob.getMetadata().getName(),
          trial.getName(),
          decision.message());
    }
  }

  /** The trial's status once stopped (changed in place). */
  static void stopped(TrialStatus trial, StopDecision decision, Instant now) {
    trial.setPhase(TrialPhase.EARLY_STOPPED);
    trial.setReason(Reasons.EARLY_STOPPED);
    trial.setMessage(
        decision.message() + "; the trial Job is suspended and its checkpoint is kept");
    trial.setCompletionTime(now.toString());
    if (trial.getProgress() != null) {
      trial.getProgress().setEtaSeconds(0L);
    }
  }
}
