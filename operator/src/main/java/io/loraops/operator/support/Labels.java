package io.loraops.operator.support;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.loraops.operator.api.v1alpha1.LoraJob;
import java.util.LinkedHashMap;
import java.util.Map;

/** Label and annotation keys the operator writes, and the label sets of its children. */
public final class Labels {
  public static final String NAME = "app.kubernetes.io/name";
  public static final String INSTANCE = "app.kubernetes.io/instance";
  public static final String COMPONENT = "app.kubernetes.io/component";
  public static final String PART_OF = "app.kubernetes.io/part-of";
  public static final String MANAGED_BY = "app.kubernetes.io/managed-by";

  public static final String LORA_JOB = "loraops.io/lorajob";
  public static final String TRIAL = "loraops.io/trial";
  public static final String ADAPTER = "loraops.io/adapter";
  public static final String VERSION = "loraops.io/version";
  public static final String SOURCE_UID = "loraops.io/source-uid";

  /**
   * State of a version record: {@link #CLAIMED} while its publish Job runs (the number is taken,
   * the version does not count yet: nothing rolls it out), {@link #PUBLISHED} once the operator
   * verified the copy's digest. Records written before this label existed are published.
   */
  public static final String VERSION_STATE = "loraops.io/version-state";

  public static final String CLAIMED = "Claimed";
  public static final String PUBLISHED = "Published";

  /** Kueue's queue label; copied from a LoraJob to its trial Jobs. */
  public static final String KUEUE_QUEUE_NAME = "kueue.x-k8s.io/queue-name";

  /**
   * Annotation on a queued trial Job whose Kueue Workload the operator deactivated for spec.suspend
   * (value "true"). It is the record of what the operator did, read from the informer cache: a
   * suspended Job alone cannot tell "deactivated" from "waiting for admission".
   */
  public static final String WORKLOAD_DEACTIVATED_ANNOTATION = "loraops.io/workload-deactivated";

  /** Kueue's label on a Workload naming the uid of the Job it admits. */
  public static final String KUEUE_JOB_UID = "kueue.x-k8s.io/job-uid";

  /** Annotation on a finished trial Job holding its recorded result (a TrialStatus as JSON). */
  public static final String RESULT_ANNOTATION = "loraops.io/result";

  public static final String OPERATOR = "lora-operator";
  public static final String TRIAL_COMPONENT = "trial";
  public static final String PUBLISH_COMPONENT = "publish";

  /** Selects every trial Job and trial Pod this operator created. */
  public static final String TRIAL_SELECTOR =
      MANAGED_BY + "=" + OPERATOR + "," + COMPONENT + "=" + TRIAL_COMPONENT;

  /** Selects every publish Job and its Pods. */
  public static final String PUBLISH_SELECTOR =
      MANAGED_BY + "=" + OPERATOR + "," + COMPONENT + "=" + PUBLISH_COMPONENT;

  /** Selects every version record. */
  public static final String VERSION_RECORD_SELECTOR = MANAGED_BY + "=" + OPERATOR + "," + VERSION;

  private Labels() {}

  /** Whether Kueue admits this LoraJob's trials, or this trial Job: it carries the queue label. */
  public static boolean isQueued(HasMetadata resource) {
    return resource.getMetadata().getLabels() != null
        && resource.getMetadata().getLabels().containsKey(KUEUE_QUEUE_NAME);
  }

  /** Whether the operator deactivated this trial Job's Kueue Workload. */
  public static boolean isWorkloadDeactivated(HasMetadata job) {
    return job.getMetadata().getAnnotations() != null
        && "true".equals(job.getMetadata().getAnnotations().get(WORKLOAD_DEACTIVATED_ANNOTATION));
  }

  /**
   * Labels of a LoraJob's publish Job, Pod and ConfigMap. No {@link #VERSION} label: that one marks
   * version records.
   */
  public static Map<String, String> forPublish(LoraJob job) {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(NAME, "lora-trainer");
    labels.put(INSTANCE, job.getMetadata().getName());
    labels.put(COMPONENT, PUBLISH_COMPONENT);
    labels.put(PART_OF, OPERATOR);
    labels.put(MANAGED_BY, OPERATOR);
    labels.put(LORA_JOB, job.getMetadata().getName());
    labels.put(ADAPTER, job.getSpec().getAdapter());
    return labels;
  }

  /** Labels of a trial's Job, Pod and ConfigMap. */
  public static Map<String, String> forTrial(LoraJob job, String trial) {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(NAME, "lora-trainer");
    labels.put(INSTANCE, job.getMetadata().getName());
    labels.put(COMPONENT, TRIAL_COMPONENT);
    labels.put(PART_OF, OPERATOR);
    labels.put(MANAGED_BY, OPERATOR);
    labels.put(LORA_JOB, job.getMetadata().getName());
    labels.put(TRIAL, trial);
    labels.put(ADAPTER, job.getSpec().getAdapter());
    return labels;
  }
}
