package io.loraops.operator.status;

/** Phases of one trial, as shown in {@code status.trials[].phase}. */
public final class TrialPhase {
  /** No Job yet: waiting for a parallelism slot (or the job is suspended). */
  public static final String WAITING = "Waiting";

  /** Job created suspended, waiting for Kueue to admit it. */
  public static final String QUEUED = "Queued";

  /** Job exists; its pod is not running yet (scheduling, pulling, starting). */
  public static final String PENDING = "Pending";

  public static final String RUNNING = "Running";
  public static final String SUSPENDED = "Suspended";
  public static final String SUCCEEDED = "Succeeded";
  public static final String FAILED = "Failed";

  /** Stopped by {@code sweep.earlyStopping}: its Job is suspended, its checkpoint kept. */
  public static final String EARLY_STOPPED = "EarlyStopped";

  private TrialPhase() {}

  public static boolean isTerminal(String phase) {
    return SUCCEEDED.equals(phase) || FAILED.equals(phase) || EARLY_STOPPED.equals(phase);
  }

  /** Whether the trial holds one of the sweep's parallelism slots. */
  public static boolean holdsSlot(String phase) {
    return !WAITING.equals(phase) && !isTerminal(phase);
  }
}
