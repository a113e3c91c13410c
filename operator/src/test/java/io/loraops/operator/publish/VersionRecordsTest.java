package io.loraops.operator.publish;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishSummary;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.RankAnalysisStatus;
import io.loraops.operator.api.v1alpha1.TrialParameters;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.support.Labels;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class VersionRecordsTest {

  final LoraJob loraJob = Fixtures.load("support-bot-sweep.yaml", LoraJob.class);

  AdapterVersion claimed() {
    TrialStatus best = new TrialStatus();
    best.setName("t002");
    TrialParameters p = new TrialParameters();
    p.setRank(8);
    p.setAlpha(16.0);
    p.setTargetModules(List.of("q_proj"));
    best.setParameters(p);
    best.setDigest("sha256:" + "ab".repeat(32));
    return VersionRecords.describe(loraJob, best, 2, Instant.parse("2026-11-26T10:00:00Z"));
  }

  @Test
  void aClaimIsNotAVersionUntilPublished() {
    ConfigMap claim = VersionRecords.claim("ml", "support-bot", claimed());

    assertThat(claim.getMetadata().getName()).isEqualTo("loraadapter-support-bot-v2");
    assertThat(claim.getImmutable()).as("patched once, when verified").isFalse();
    assertThat(VersionRecords.isClaim(claim)).isTrue();
    assertThat(VersionRecords.parse(claim)).as("nothing rolls a claim out").isEmpty();
    assertThat(VersionRecords.content(claim).get().getArtifactUri())
        .isEqualTo("pvc://adapters/support-bot/v2");
    assertThat(VersionRecords.publishedBy(claim, loraJob)).isTrue();
  }

  @Test
  void thePublishPatchMakesTheRecordAnImmutableVersion() throws Exception {
    AdapterVersion verified =
        VersionRecords.verified(
            claimed(),
            new PublishSummary(
                TrialConfig.CURRENT_VERSION,
                TrialSummary.SUCCEEDED,
                0,
                null,
                null,
                "sha256:" + "ab".repeat(32),
                "sha256:" + "ab".repeat(32),
                "/lora/claims/adapters/support-bot/v2",
                "/lora/claims/adapters/support-bot/v2/merged",
                null));
    assertThat(verified.getMergedUri()).isEqualTo("pvc://adapters/support-bot/v2/merged");
    RankAnalysisStatus ranks = new RankAnalysisStatus();
    ranks.setRecommendedRank(4);

    JsonNode patch = ContractJson.mapper().readTree(VersionRecords.published(verified, ranks));

    assertThat(patch.get("immutable").asBoolean()).isTrue();
    assertThat(patch.get("metadata").get("labels").get(Labels.VERSION_STATE).asText())
        .isEqualTo(Labels.PUBLISHED);
    ConfigMap record = VersionRecords.claim("ml", "support-bot", claimed());
    record.getMetadata().getLabels().put(Labels.VERSION_STATE, Labels.PUBLISHED);
    record.getData().put("version.json", patch.get("data").get("version.json").asText());
    record
        .getData()
        .put("rank-analysis.json", patch.get("data").get("rank-analysis.json").asText());
    assertThat(VersionRecords.parse(record)).contains(verified);
    assertThat(VersionRecords.rankAnalysis(record).get().getRecommendedRank()).isEqualTo(4);
  }

  /** Records written before claims existed have no state label: they are versions. */
  @Test
  void aRecordWithoutAStateIsPublished() {
    ConfigMap old = VersionRecords.record("ml", "support-bot", claimed());
    old.getMetadata().getLabels().remove(Labels.VERSION_STATE);
    assertThat(VersionRecords.parse(old)).isPresent();
  }
}
