package io.loraops.operator.status;

/**
 * Every reason the operator writes, in one place (as Kueue's {@code workload_types.go} keeps its
 * own): condition reasons of LoraJob and LoraAdapter, trial reasons ({@code
 * status.trials[].reason}), rollout reasons ({@code status.rollout.reason}) and Event reasons.
 * {@code docs/conditions.md} explains each one; {@code ReasonsDocTest} checks that the two agree
 * both ways. The trainer's exit reasons ({@code BadConfig}, ...) live with the exit codes in the
 * contract module.
 */
public final class Reasons {
  private Reasons() {}

  // LoraJob conditions
  public static final String TRIALS_RUNNING = "TrialsRunning";
  public static final String SUSPENDED = "Suspended";
  public static final String NOT_SUSPENDED = "NotSuspended";
  public static final String FINISHED = "Finished";
  public static final String FAILED = "Failed";
  public static final String PUBLISHING = "Publishing";
  public static final String VERSION_PUBLISHED = "VersionPublished";
  public static final String NO_FAILURE = "NoFailure";
  public static final String ALL_TRIALS_FAILED = "AllTrialsFailed";
  public static final String NO_COMPARABLE_TRIAL = "NoComparableTrial";
  public static final String BASE_MODEL_MISMATCH = "BaseModelMismatch";
  public static final String PUBLISH_FAILED = "PublishFailed";
  public static final String DIGEST_MISMATCH = "DigestMismatch";

  // Synced (ReconcileErrors): whether the last reconcile succeeded
  public static final String RECONCILE_SUCCEEDED = "ReconcileSucceeded";
  public static final String RECONCILE_ERROR = "ReconcileError";

  // Reconciling and Stalled (kstatus) when they repeat no other condition
  public static final String SETTLED = "Settled";
  public static final String STALLED = "Stalled";
  public static final String NOT_STALLED = "NotStalled";

  // LoraAdapter conditions
  public static final String VERSION_AVAILABLE = "VersionAvailable";
  public static final String SERVING = "Serving";
  public static final String NO_VERSIONS = "NoVersions";
  public static final String VERSION_NOT_FOUND = "VersionNotFound";
  public static final String NOT_SERVED = "NotServed";
  public static final String ROLLING_OUT = "RollingOut";
  public static final String NO_SERVING_TARGETS = "NoServingTargets";
  public static final String ROLLOUT_COMPLETE = "RolloutComplete";
  public static final String ROLLED_BACK = "RolledBack";
  public static final String NOT_PROMOTED = "NotPromoted";
  public static final String SERVING_PROBLEM = "ServingProblem";
  public static final String AS_EXPECTED = "AsExpected";

  // Rollout reasons (status.rollout.reason; IncompatibleAdapter is a Degraded reason too)
  public static final String GATE_FAILED = "GateFailed";
  public static final String INCOMPATIBLE_ADAPTER = "IncompatibleAdapter";

  // Trial reasons
  public static final String WAITING_FOR_SLOT = "WaitingForSlot";
  public static final String WAITING_FOR_ADMISSION = "WaitingForAdmission";
  public static final String STARTING = "Starting";
  public static final String UNSCHEDULABLE = "Unschedulable";
  public static final String TRAINING = "Training";
  public static final String RETRYING = "Retrying";
  public static final String FINISHING = "Finishing";
  public static final String COMPLETED = "Completed";
  public static final String OUT_OF_MEMORY = "OutOfMemory";
  public static final String MISSING_SUMMARY = "MissingSummary";
  public static final String INVALID_TRIAL_JOB = "InvalidTrialJob";
  public static final String JOB_FAILED = "JobFailed";
  public static final String EARLY_STOPPED = "EarlyStopped";

  // Events (besides condition changes, whose Events carry the condition's reason)
  public static final String TRIAL_SUCCEEDED = "TrialSucceeded";
  public static final String TRIAL_FAILED = "TrialFailed";
  public static final String TRIAL_EARLY_STOPPED = "TrialEarlyStopped";
  public static final String ROLLOUT_STARTED = "RolloutStarted";
  public static final String ROLLOUT_STEP = "RolloutStep";
  public static final String ROLLOUT_SUCCEEDED = "RolloutSucceeded";
  public static final String WITHDRAW_INCOMPLETE = "WithdrawIncomplete";
}
