package io.loraops.operator.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishConfig;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.api.v1alpha1.TrialParameters;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.config.OperatorSettings;
import io.loraops.operator.publish.VersionRecords;
import io.loraops.operator.support.Labels;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class PublishJobBuilderTest {

  final LoraJob loraJob = Fixtures.load("support-bot-sweep.yaml", LoraJob.class);
  final List<TrialStatus> trials =
      List.of(
          trial("t000", 4, 2.1, "Succeeded"),
          trial("t001", 4, 1.9, "Succeeded"),
          trial("t002", 8, 1.5, "Succeeded"),
          trial("t003", 16, 1.4, "Failed"),
          trial("t004", 32, 1.7, "Succeeded"));
  final TrialStatus best = trials.get(2);
  final AdapterVersion claimed =
      VersionRecords.describe(loraJob, best, 3, Instant.parse("2026-11-26T10:00:00Z"));

  static TrialStatus trial(String name, int rank, double evalLoss, String phase) {
    TrialStatus t = new TrialStatus();
    t.setName(name);
    t.setPhase(phase);
    TrialParameters p = new TrialParameters();
    p.setRank(rank);
    p.setAlpha(2.0 * rank);
    p.setLearningRate(2e-4);
    p.setTargetModules(List.of("q_proj", "v_proj"));
    t.setParameters(p);
    TrialMetrics m = new TrialMetrics();
    m.setEvalLoss(evalLoss);
    m.setSteps(100L);
    t.setMetrics(m);
    t.setDigest("sha256:" + "ab".repeat(32));
    t.setArtifactUri("pvc://adapters/support-bot/trials/support-bot-sweep-1b2c3/" + name);
    return t;
  }

  PublishJobBuilder.PublishObjects build() {
    return new PublishJobBuilder(OperatorSettings.defaults()).build(loraJob, best, trials, claimed);
  }

  @Test
  void jobMatchesTheGoldenFile() {
    String actual = Serialization.asYaml(build().job());
    assertThat(actual)
        .isEqualTo(Fixtures.golden(Path.of("src/test/resources/golden/publish-job.yaml"), actual));
  }

  /** The contract's golden file, which the contract module's test reads back. */
  @Test
  void publishConfigIsTheContractsGoldenFile() {
    PublishJobBuilder.PublishObjects objects = build();
    String actual = objects.configMap().getData().get(PublishJobBuilder.CONFIG_KEY);
    assertThat(actual)
        .isEqualTo(
            Fixtures.golden(
                Path.of("../contract/src/test/resources/golden/publish-config.json"), actual));
    assertThat(ContractJson.toPrettyJson(objects.config())).isEqualTo(actual);
  }

  @Test
  void theJobCopiesTheBestTrialIntoTheVersionFolderWithoutAGpu() {
    PublishJobBuilder.PublishObjects objects = build();
    Job job = objects.job();
    Container c = job.getSpec().getTemplate().getSpec().getContainers().get(0);

    assertThat(job.getMetadata().getName()).isEqualTo("support-bot-sweep-1b2c3-pub");
    assertThat(job.getMetadata().getLabels())
        .containsEntry(Labels.COMPONENT, Labels.PUBLISH_COMPONENT)
        .containsEntry(Labels.LORA_JOB, "support-bot-sweep")
        .doesNotContainKey(Labels.VERSION) // that label marks version records
        .doesNotContainKey(Labels.KUEUE_QUEUE_NAME);
    assertThat(job.getSpec().getSuspend()).isNull();
    assertThat(c.getArgs()).containsExactly("publish", "/etc/loraops/publish.json");
    assertThat(c.getResources().getLimits()).containsOnlyKeys("cpu", "memory");
    assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(c.getVolumeMounts())
        .anySatisfy(
            m -> {
              assertThat(m.getMountPath()).isEqualTo("/lora/claims/adapters");
              assertThat(m.getReadOnly()).isFalse();
            })
        .noneMatch(m -> m.getMountPath().equals("/lora/claims/models"));
    assertThat(job.getMetadata().getOwnerReferences().get(0).getUid())
        .isEqualTo(loraJob.getMetadata().getUid());

    PublishConfig cfg = objects.config();
    assertThat(cfg.sourcePath())
        .isEqualTo("/lora/claims/adapters/support-bot/trials/support-bot-sweep-1b2c3/t002");
    assertThat(cfg.versionPath()).isEqualTo("/lora/claims/adapters/support-bot/v3");
    assertThat(cfg.expectedDigest()).isEqualTo(best.getDigest());
    assertThat(cfg.manifest().version()).isEqualTo(3);
    assertThat(cfg.manifest().createdAt()).isEqualTo("2026-11-26T10:00:00Z");
    assertThat(cfg.manifest().baseModel().revision()).isEqualTo("r1");
    assertThat(cfg.manifest().source().trial()).isEqualTo("t002");
    assertThat(cfg.manifest().source().loraJobUid()).isEqualTo(loraJob.getMetadata().getUid());
    assertThat(cfg.merged()).isNull();
  }

  /** The best succeeded trial of each other rank; a failed rank is left out. */
  @Test
  void theRankAnalysisComparesTheBestOfEachOtherRank() {
    PublishConfig.RankAnalysis ranks = build().config().rankAnalysis();
    assertThat(ranks.topDirections()).isEqualTo(4);
    assertThat(ranks.threshold()).isEqualTo(0.9);
    assertThat(ranks.others())
        .containsExactly(
            new PublishConfig.Candidate(
                "t001", 4, "/lora/claims/adapters/support-bot/trials/support-bot-sweep-1b2c3/t001"),
            new PublishConfig.Candidate(
                "t004",
                32,
                "/lora/claims/adapters/support-bot/trials/support-bot-sweep-1b2c3/t004"));

    assertThat(
            new PublishJobBuilder(OperatorSettings.defaults())
                .build(loraJob, best, List.of(best, trial("t009", 8, 1.6, "Succeeded")), claimed)
                .config()
                .rankAnalysis())
        .as("a single rank: nothing to compare")
        .isNull();
  }

  @Test
  void outputMergedAddsTheExportAndMountsTheBaseModelReadOnly() {
    loraJob.getSpec().getOutput().setMerged(true);
    PublishJobBuilder.PublishObjects objects = build();

    assertThat(objects.config().merged())
        .isEqualTo(
            new PublishConfig.Merged(
                "/lora/claims/models/tiny-gpt2", "/lora/claims/adapters/support-bot/v3/merged"));
    assertThat(
            objects
                .job()
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .getVolumeMounts())
        .anySatisfy(
            m -> {
              assertThat(m.getMountPath()).isEqualTo("/lora/claims/models");
              assertThat(m.getReadOnly()).isTrue();
            });
  }

  @Test
  void theSameInputsGiveTheSameObjects() {
    assertThat(build()).isEqualTo(build());
  }
}
