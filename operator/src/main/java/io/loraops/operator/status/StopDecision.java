package io.loraops.operator.status;

/** A trial an early-stopping rule stops, and why, in the rule's numbers. */
public interface StopDecision {

  String trial();

  /** For the trial's status message and its TrialEarlyStopped Event. */
  String message();
}
