package io.loraops.operator.support;

import io.loraops.operator.api.v1alpha1.LoraJob;

/**
 * Deterministic names. Creating a child under a name derived only from its parent is what makes
 * every create idempotent: a second attempt (after a restart, or with a stale cache) gets
 * AlreadyExists instead of a duplicate.
 */
public final class Names {
  private Names() {}

  /** Trial names in sweep order: t000, t001, ... */
  public static String trial(int index) {
    return String.format("t%03d", index);
  }

  /**
   * The trial's Job (and ConfigMap) name: {@code <lorajob>-<uid prefix>-<trial>}. The uid prefix
   * keeps a re-created LoraJob of the same name from colliding with its predecessor's Jobs or
   * overwriting its outputs. At most 52 + 1 + 5 + 1 + 4 = 63 characters (the schema caps LoraJob
   * names at 52), so it is also a valid label value.
   */
  public static String trialJob(LoraJob job, String trial) {
    return runId(job) + "-" + trial;
  }

  /** {@code <lorajob>-<uid prefix>}: identifies one LoraJob object, across re-creations. */
  public static String runId(LoraJob job) {
    String uid = job.getMetadata().getUid();
    String prefix = uid == null ? "local" : uid.replace("-", "").substring(0, 5);
    return job.getMetadata().getName() + "-" + prefix;
  }

  /**
   * The publish Job (and its ConfigMap) of a LoraJob: {@code <lorajob>-<uid prefix>-pub}, at most
   * 63 characters like a trial's. One per LoraJob object: a LoraJob publishes one version.
   */
  public static String publishJob(LoraJob job) {
    return runId(job) + "-pub";
  }

  /** The ConfigMap holding version {@code version} of an adapter. */
  public static String versionRecord(String adapter, int version) {
    return "loraadapter-" + adapter + "-v" + version;
  }
}
