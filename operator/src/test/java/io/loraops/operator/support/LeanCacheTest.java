package io.loraops.operator.support;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import org.junit.jupiter.api.Test;

class LeanCacheTest {

  static final String RESULT = "{\"phase\":\"Succeeded\"}";

  Job job =
      new JobBuilder()
          .withNewMetadata()
          .withName("sweep-1a2b3c4d-t000")
          .withNamespace("team")
          .withUid("uid-1")
          .addToLabels(Labels.TRIAL, "t000")
          .addToAnnotations(Labels.RESULT_ANNOTATION, RESULT)
          .withManagedFields(new ManagedFieldsEntryBuilder().withManager("lora-operator").build())
          .endMetadata()
          .withNewSpec()
          .withSuspend(true)
          .withNewTemplate()
          .withNewSpec()
          .addNewContainer()
          .withName("trainer")
          .endContainer()
          .endSpec()
          .endTemplate()
          .endSpec()
          .withNewStatus()
          .withActive(1)
          .endStatus()
          .build();

  Pod pod =
      new PodBuilder()
          .withNewMetadata()
          .withName("sweep-1a2b3c4d-t000-xyz")
          .withNamespace("team")
          .withCreationTimestamp("2026-11-22T06:00:00Z")
          .addToLabels(Labels.TRIAL, "t000")
          .withManagedFields(new ManagedFieldsEntryBuilder().withManager("kubelet").build())
          .endMetadata()
          .withNewSpec()
          .addNewContainer()
          .withName("trainer")
          .endContainer()
          .endSpec()
          .withNewStatus()
          .withPhase("Pending")
          .endStatus()
          .build();

  @Test
  void trialJobsKeepWhatTheOperatorReadsAndDropTheirPodTemplate() {
    LeanCache<Job> cache = LeanCache.trialJobs();
    cache.put(cache.getKey(job), job);

    Job cached = cache.get("team/sweep-1a2b3c4d-t000");
    assertThat(cached.getMetadata().getManagedFields()).isNullOrEmpty();
    assertThat(cached.getSpec().getTemplate()).isNull();
    assertThat(cached.getSpec().getSuspend()).isTrue();
    assertThat(cached.getStatus().getActive()).isEqualTo(1);
    assertThat(cached.getMetadata().getUid()).isEqualTo("uid-1");
    assertThat(cached.getMetadata().getLabels()).containsEntry(Labels.TRIAL, "t000");
    assertThat(cached.getMetadata().getAnnotations())
        .containsEntry(Labels.RESULT_ANNOTATION, RESULT);
  }

  @Test
  void trialPodsKeepLabelsCreationTimeAndStatusOnly() {
    LeanCache<Pod> cache = LeanCache.trialPods();
    cache.put(cache.getKey(pod), pod);

    Pod cached = cache.get("team/sweep-1a2b3c4d-t000-xyz");
    assertThat(cached.getMetadata().getManagedFields()).isNullOrEmpty();
    assertThat(cached.getSpec().getContainers()).isEmpty();
    assertThat(cached.getStatus().getPhase()).isEqualTo("Pending");
    assertThat(cached.getMetadata().getCreationTimestamp()).isEqualTo("2026-11-22T06:00:00Z");
    assertThat(cached.getMetadata().getLabels()).containsEntry(Labels.TRIAL, "t000");
  }

  @Test
  void otherObjectsLoseOnlyManagedFields() {
    LeanCache<Pod> cache = LeanCache.withoutManagedFields();
    cache.put(cache.getKey(pod), pod);

    Pod cached = cache.get("team/sweep-1a2b3c4d-t000-xyz");
    assertThat(cached.getMetadata().getManagedFields()).isNullOrEmpty();
    assertThat(cached.getSpec().getContainers()).hasSize(1);
  }
}
