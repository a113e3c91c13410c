package io.loraops.operator.support;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.informers.cache.BasicItemStore;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import java.util.function.UnaryOperator;

/**
 * An informer cache that keeps only the parts of each object the operator reads. Informers hold
 * every object they watch for as long as it exists, so at a thousand LoraJobs the 4,000 trial Jobs
 * and pods dominate the operator's memory; most of each is what the API server echoes back (the pod
 * template of a Job, the spec of a pod, {@code managedFields} everywhere), which the operator wrote
 * itself or never looks at. Objects are pruned as they enter the cache, before any handler sees
 * them; nothing read from the cache is ever written back whole (writes are merge patches by name).
 */
public final class LeanCache<T extends HasMetadata> extends BasicItemStore<T> {

  private final UnaryOperator<T> prune;

  private LeanCache(UnaryOperator<T> prune) {
    super(Cache::metaNamespaceKeyFunc);
    this.prune = prune;
  }

  /**
   * Trial Jobs: the operator reads their labels, annotations (the recorded result), owner, uid,
   * {@code spec.suspend} and status; the pod template, which it built itself, is dropped.
   */
  public static LeanCache<Job> trialJobs() {
    return new LeanCache<>(
        job -> {
          withoutManagedFields(job);
          if (job.getSpec() != null) {
            job.getSpec().setTemplate(null);
            job.getSpec().setPodFailurePolicy(null);
          }
          return job;
        });
  }

  /**
   * Trial pods: the operator reads their labels, creation time and status (phase, conditions,
   * container states with the trainer's termination message); the spec is dropped.
   */
  public static <P extends HasMetadata> LeanCache<P> trialPods() {
    return new LeanCache<>(
        pod -> {
          withoutManagedFields(pod);
          if (pod instanceof io.fabric8.kubernetes.api.model.Pod p) {
            p.setSpec(new PodSpec());
          }
          return pod;
        });
  }

  /** Objects read whole (serving Deployments, version records), less {@code managedFields}. */
  public static <R extends HasMetadata> LeanCache<R> withoutManagedFields() {
    return new LeanCache<>(LeanCache::withoutManagedFields);
  }

  @Override
  public T put(String key, T obj) {
    return super.put(key, prune.apply(obj));
  }

  private static <R extends HasMetadata> R withoutManagedFields(R resource) {
    resource.getMetadata().setManagedFields(null);
    return resource;
  }
}
