package io.loraops.operator.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.contract.ContractJson;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.config.OperatorSettings;
import io.loraops.operator.support.Labels;
import io.loraops.operator.sweep.SweepExpander;
import io.loraops.operator.sweep.Trial;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class TrialJobBuilderTest {

  final LoraJob loraJob = Fixtures.load("support-bot-sweep.yaml", LoraJob.class);
  final Trial trial = SweepExpander.expand(loraJob.getSpec()).get(1);
  final TrialJobBuilder.TrialObjects objects =
      new TrialJobBuilder(OperatorSettings.defaults()).build(loraJob, trial);

  @Test
  void jobMatchesTheGoldenFile() {
    String actual = Serialization.asYaml(objects.job());
    assertThat(actual)
        .isEqualTo(Fixtures.golden(Path.of("src/test/resources/golden/trial-job.yaml"), actual));
  }

  /** The contract's golden file is what the trainer's tests read: both sides agree on it. */
  @Test
  void trialConfigIsTheContractsGoldenFile() {
    String actual = objects.configMap().getData().get(TrialJobBuilder.CONFIG_KEY);
    assertThat(actual)
        .isEqualTo(
            Fixtures.golden(
                Path.of("../contract/src/test/resources/golden/trial-config.json"), actual));
    assertThat(ContractJson.toPrettyJson(objects.config())).isEqualTo(actual);
  }

  @Test
  void trialPodsRunNonRootOnARequestedGpuWithAReadOnlyRoot() {
    Job job = objects.job();
    var pod = job.getSpec().getTemplate().getSpec();
    Container trainer = pod.getContainers().get(0);

    assertThat(job.getMetadata().getName()).isEqualTo("support-bot-sweep-1b2c3-t001");
    assertThat(job.getMetadata().getLabels()).containsEntry(Labels.KUEUE_QUEUE_NAME, "gpu-queue");
    assertThat(job.getSpec().getSuspend()).as("created suspended for Kueue to admit").isTrue();
    assertThat(job.getSpec().getBackoffLimit()).isEqualTo(2);
    assertThat(job.getMetadata().getOwnerReferences().get(0).getController()).isTrue();
    assertThat(trainer.getResources().getLimits())
        .containsEntry("nvidia.com/gpu", new Quantity("1"));
    assertThat(trainer.getResources().getRequests()).isEqualTo(trainer.getResources().getLimits());
    assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
    assertThat(trainer.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(trainer.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
    assertThat(pod.getRestartPolicy()).isEqualTo("Never");
    assertThat(trainer.getVolumeMounts())
        .anySatisfy(
            m -> {
              assertThat(m.getMountPath()).isEqualTo("/lora/claims/adapters");
              assertThat(m.getReadOnly()).isFalse();
            })
        .anySatisfy(
            m -> {
              assertThat(m.getMountPath()).isEqualTo("/lora/claims/models");
              assertThat(m.getReadOnly()).isTrue();
            });
  }

  @Test
  void gpuResourceNameAndZeroGpusAreHonoured() {
    loraJob.getSpec().getResources().setGpuResourceName("amd.com/gpu");
    loraJob.getSpec().getResources().setGpus(2);
    var limits =
        build().getSpec().getTemplate().getSpec().getContainers().get(0).getResources().getLimits();
    assertThat(limits)
        .containsEntry("amd.com/gpu", new Quantity("2"))
        .doesNotContainKey("nvidia.com/gpu");

    loraJob.getSpec().getResources().setGpus(0);
    limits =
        build().getSpec().getTemplate().getSpec().getContainers().get(0).getResources().getLimits();
    assertThat(limits).doesNotContainKey("amd.com/gpu");
  }

  @Test
  void withoutKueueTheJobFollowsSpecSuspend() {
    loraJob.getMetadata().getLabels().clear();
    assertThat(build().getSpec().getSuspend()).isFalse();
    loraJob.getSpec().setSuspend(true);
    assertThat(build().getSpec().getSuspend()).isTrue();
  }

  @Test
  void sharedClaimIsMountedOnceAndWritable() {
    loraJob.getSpec().getBaseModel().setUri("pvc://work/models/tiny");
    loraJob.getSpec().getDataset().setUri("pvc://work/data/train.jsonl");
    loraJob.getSpec().getOutput().setUri("pvc://work/adapters");
    var pod = build().getSpec().getTemplate().getSpec();
    assertThat(pod.getVolumes()).filteredOn(v -> v.getPersistentVolumeClaim() != null).hasSize(1);
    assertThat(pod.getContainers().get(0).getVolumeMounts())
        .filteredOn(m -> m.getMountPath().equals("/lora/claims/work"))
        .singleElement()
        .satisfies(m -> assertThat(m.getReadOnly()).isFalse());
  }

  @Test
  void localFileUrisBecomeHostPathVolumes() {
    loraJob.getSpec().getBaseModel().setUri("file:///var/lib/lora/models/tiny");
    var objects = new TrialJobBuilder(OperatorSettings.defaults()).build(loraJob, trial);
    assertThat(objects.config().baseModel().path()).isEqualTo("/lora/files/model");
    assertThat(objects.job().getSpec().getTemplate().getSpec().getVolumes())
        .filteredOn(v -> v.getHostPath() != null)
        .singleElement()
        .satisfies(
            v -> assertThat(v.getHostPath().getPath()).isEqualTo("/var/lib/lora/models/tiny"));
  }

  private Job build() {
    return new TrialJobBuilder(OperatorSettings.defaults()).build(loraJob, trial).job();
  }
}
