package io.loraops.operator.progress;

import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialProgress;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.status.AshaStoppingRule;
import io.loraops.operator.status.TrialPhase;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The reconcile's side of live progress: tells the {@link ProgressPoller} which pods to follow (the
 * current pod of each running trial) and puts what they reported into the observed trials. Never
 * reads a log itself.
 */
public final class TrialProgressTracker {

  private final ProgressPoller<LoraJob> poller;

  public TrialProgressTracker(ProgressPoller<LoraJob> poller) {
    this.poller = poller;
  }

  public void track(LoraJob loraJob, List<TrialStatus> observed, Map<String, List<Pod>> trialPods) {
    Map<String, PodProgress> live = new HashMap<>();
    List<ProgressPoller.PodRef> follow = new ArrayList<>();
    for (TrialStatus trial : observed) {
      if (!TrialPhase.RUNNING.equals(trial.getPhase()) && !isFinishing(trial)) {
        continue;
      }
      Optional<Pod> pod = current(trialPods.getOrDefault(trial.getName(), List.of()));
      if (pod.isEmpty()) {
        continue;
      }
      var ref =
          new ProgressPoller.PodRef(
              pod.get().getMetadata().getNamespace(),
              pod.get().getMetadata().getName(),
              pod.get().getMetadata().getUid());
      if (TrialPhase.RUNNING.equals(trial.getPhase())) {
        follow.add(ref);
      }
      poller.progress(ref.uid()).ifPresent(p -> live.put(trial.getName(), p));
    }
    poller.follow(ResourceID.fromResource(loraJob), follow);
    TrialProgresses.attach(
        observed, previous(loraJob), live, Set.copyOf(AshaStoppingRule.rungs(loraJob.getSpec())));
  }

  /** A trial that ended in this reconcile: its result is not recorded on its Job yet. */
  private static boolean isFinishing(TrialStatus trial) {
    return TrialPhase.isTerminal(trial.getPhase()) && trial.getProgress() == null;
  }

  private static Map<String, TrialProgress> previous(LoraJob loraJob) {
    Map<String, TrialProgress> previous = new HashMap<>();
    if (loraJob.getStatus() != null) {
      for (TrialStatus t : loraJob.getStatus().getTrials()) {
        if (t.getProgress() != null) {
          previous.put(t.getName(), t.getProgress());
        }
      }
    }
    return previous;
  }

  /** The trial's newest pod (a retry's pod replaces the failed one). */
  static Optional<Pod> current(List<Pod> pods) {
    return pods.stream()
        .max(
            Comparator.comparing(
                    (Pod p) ->
                        p.getMetadata().getCreationTimestamp() == null
                            ? ""
                            : p.getMetadata().getCreationTimestamp())
                .thenComparing(p -> p.getMetadata().getName()));
  }
}
