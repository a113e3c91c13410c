package io.loraops.operator.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The operator's own Prometheus metrics. Labels are namespace, adapter and a bounded result: never
 * a LoraJob, trial or pod name, whose number has no bound.
 */
public class LoraMetrics {

  private final MeterRegistry registry;

  /** Active trial Jobs per (namespace, adapter), summed over the LoraJobs publishing into it. */
  private final Map<Tags, Map<String, Integer>> activeByJob = new ConcurrentHashMap<>();

  private final Map<Tags, AtomicInteger> activeGauges = new ConcurrentHashMap<>();

  public LoraMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  /** A trial reached its end: {@code lora_trials_total}, {@code lora_trial_duration_seconds}. */
  public void trialFinished(String namespace, String adapter, String result, Double seconds) {
    Tags tags = Tags.of("namespace", namespace, "adapter", adapter, "result", result);
    Counter.builder("lora.trials")
        .description("Trials that finished, by result")
        .tags(tags)
        .register(registry)
        .increment();
    if (seconds != null) {
      Timer.builder("lora.trial.duration")
          .description("Wall time of finished trials")
          .tags(tags)
          .register(registry)
          .record(Duration.ofMillis((long) (seconds * 1000)));
    }
  }

  /** {@code lora_adapter_versions_total}. */
  public void versionPublished(String namespace, String adapter) {
    Counter.builder("lora.adapter.versions")
        .description("Adapter versions published")
        .tags("namespace", namespace, "adapter", adapter)
        .register(registry)
        .increment();
  }

  /** {@code lora_jobs_active}: trial Jobs currently holding a slot, per namespace and adapter. */
  public void activeTrials(String namespace, String adapter, String loraJob, int active) {
    Tags tags = Tags.of("namespace", namespace, "adapter", adapter);
    activeByJob.computeIfAbsent(tags, t -> new ConcurrentHashMap<>()).put(loraJob, active);
    AtomicInteger gauge =
        activeGauges.computeIfAbsent(
            tags, t -> registry.gauge("lora.jobs.active", t, new AtomicInteger()));
    gauge.set(activeByJob.get(tags).values().stream().mapToInt(Integer::intValue).sum());
  }

  /** A rollout ended: {@code lora_rollouts_total}, {@code lora_rollout_duration_seconds}. */
  public void rolloutFinished(String namespace, String adapter, String result, Duration took) {
    Tags tags = Tags.of("namespace", namespace, "adapter", adapter, "result", result);
    Counter.builder("lora.rollouts")
        .description("Rollouts that ended, by result (succeeded, rolled_back)")
        .tags(tags)
        .register(registry)
        .increment();
    Timer.builder("lora.rollout.duration")
        .description("Wall time of rollouts, from start to success or rollback")
        .tags(tags)
        .register(registry)
        .record(took);
  }

  /**
   * {@code lora_adapter_serving_version}: the version the adapter's alias serves on every ready pod
   * of a target; 0 while pods disagree (mid-rollout) or none serves it.
   */
  public void servingVersion(String namespace, String adapter, String target, Integer version) {
    Tags tags = Tags.of("namespace", namespace, "adapter", adapter, "target", target);
    servingGauges
        .computeIfAbsent(
            tags, t -> registry.gauge("lora.adapter.serving.version", t, new AtomicInteger()))
        .set(version == null ? 0 : version);
  }

  /** The adapter is gone: its serving gauges go too, rather than report a version forever. */
  public void forgetServing(String namespace, String adapter) {
    forgetServing(namespace, adapter, null);
  }

  /** {@code target} (every target when null) no longer serves the adapter: its gauge goes. */
  public void forgetServing(String namespace, String adapter, String target) {
    servingGauges
        .keySet()
        .removeIf(
            tags -> {
              boolean match =
                  namespace.equals(tag(tags, "namespace"))
                      && adapter.equals(tag(tags, "adapter"))
                      && (target == null || target.equals(tag(tags, "target")));
              if (match) {
                registry
                    .find("lora.adapter.serving.version")
                    .tags(tags)
                    .meters()
                    .forEach(registry::remove);
              }
              return match;
            });
  }

  private static String tag(Tags tags, String key) {
    return tags.stream()
        .filter(t -> t.getKey().equals(key))
        .map(t -> t.getValue())
        .findFirst()
        .orElse(null);
  }

  private final Map<Tags, AtomicInteger> servingGauges = new ConcurrentHashMap<>();
}
