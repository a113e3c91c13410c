package io.loraops.trainer.publish;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import io.loraops.contract.AdapterDigest;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.PublishConfig;
import io.loraops.contract.PublishSummary;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.contract.VersionManifest;
import io.loraops.trainer.Main;
import io.loraops.trainer.report.Reports;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code lora-trainer publish} on adapters with known subspaces: the best trial (rank 8) reads the
 * input directions e0..e7 with descending weight, so its top-4 directions are e0..e3; a rank-4
 * trial on e0..e3 (nested) captures all of them, a rank-16 one on e0..e15 too, a rank-2 one on e8,
 * e9 (orthogonal) none.
 */
class VersionPublisherTest {
  static final int D = 32;
  static final List<String> MODULES = List.of("q_proj", "v_proj");

  @TempDir Path tmp;

  private final List<String> exported = new ArrayList<>();

  private final VersionPublisher publisher =
      new VersionPublisher(
          (base, adapter, out) -> {
            exported.add(base + " " + adapter.getFileName() + " " + out.getFileName());
            try {
              Files.createDirectories(out);
              Files.writeString(out.resolve("config.json"), "{}");
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
            return 0;
          });

  /** A PEFT-layout adapter whose lora_A rows are {@code weight_k * e_(first + k)} per layer. */
  static Path adapter(Path dir, int first, int rank) throws Exception {
    Files.createDirectories(dir);
    Map<String, NDArray> tensors = new LinkedHashMap<>();
    try (NDManager m = NDManager.newBaseManager()) {
      for (int layer = 0; layer < 2; layer++) {
        for (String module : MODULES) {
          float[] a = new float[rank * D];
          for (int k = 0; k < rank; k++) {
            a[k * D + first + k] = rank - k + 0.5f;
          }
          String key = "base_model.model.model.layers." + layer + ".self_attn." + module;
          tensors.put(key + ".lora_A.weight", m.create(a, new Shape(rank, D)));
          tensors.put(key + ".lora_B.weight", m.zeros(new Shape(D, rank)));
        }
      }
      io.loraops.trainer.model.SafeTensors.write(
          dir.resolve("adapter_model.safetensors"), tensors, Map.of("format", "pt"));
    }
    Files.writeString(
        dir.resolve("adapter_config.json"), "{\"peft_type\":\"LORA\",\"r\":" + rank + "}");
    return dir;
  }

  private PublishConfig config(Path best, String expected, boolean ranks, boolean merged)
      throws Exception {
    Path trials = tmp.resolve("out/demo/trials/run");
    List<PublishConfig.Candidate> others =
        List.of(
            new PublishConfig.Candidate(
                "t000", 2, adapter(trials.resolve("t000"), 8, 2).toString()),
            new PublishConfig.Candidate(
                "t001", 4, adapter(trials.resolve("t001"), 0, 4).toString()),
            new PublishConfig.Candidate(
                "t003", 16, adapter(trials.resolve("t003"), 0, 16).toString()));
    Path version = tmp.resolve("out/demo/v3");
    return new PublishConfig(
        TrialConfig.CURRENT_VERSION,
        best.toString(),
        expected,
        version.toString(),
        new VersionManifest(
            "demo",
            3,
            null,
            null,
            new VersionManifest.BaseModel("tiny", "rev1"),
            8,
            16.0,
            MODULES,
            new TrialSummary.Metrics(1.1, 1.2, 1.2, 3.3, 40L, 900.0, 1024L, 4096L, 12.0),
            new VersionManifest.Source("sweep", "uid-1", "t002", "pvc://adapters/demo/trials/t002"),
            "2026-11-26T10:00:00Z",
            null,
            null),
        ranks ? new PublishConfig.RankAnalysis(4, 0.9, others) : null,
        merged
            ? new PublishConfig.Merged(tmp.resolve("model").toString(), version + "/merged")
            : null,
        tmp.resolve("termination-log").toString());
  }

  private Path best() throws Exception {
    return adapter(tmp.resolve("out/demo/trials/run/t002"), 0, 8);
  }

  @Test
  void copiesTheAdapterWritesTheManifestAndReportsTheDigestOfTheCopy() throws Exception {
    Path best = best();
    String digest = Reports.digest(best, AdapterDigest.FILES);
    PublishConfig cfg = config(best, digest, false, false);

    PublishSummary summary = publisher.publish(cfg);

    Path v3 = Path.of(cfg.versionPath());
    assertThat(summary.succeeded()).isTrue();
    assertThat(summary.digest()).isEqualTo(digest).startsWith("sha256:");
    assertThat(summary.sourceDigest()).isEqualTo(digest);
    assertThat(summary.versionPath()).isEqualTo(v3.toString());
    for (String f : AdapterDigest.FILES) {
      assertThat(Files.readAllBytes(v3.resolve(f))).isEqualTo(Files.readAllBytes(best.resolve(f)));
    }
    VersionManifest manifest =
        ContractJson.mapper()
            .readValue(v3.resolve("manifest.json").toFile(), VersionManifest.class);
    assertThat(manifest.version()).isEqualTo(3);
    assertThat(manifest.digest()).isEqualTo(digest);
    assertThat(manifest.files())
        .containsExactly("adapter_config.json", "adapter_model.safetensors");
    assertThat(manifest.baseModel()).isEqualTo(new VersionManifest.BaseModel("tiny", "rev1"));
    assertThat(manifest.rank()).isEqualTo(8);
    assertThat(manifest.alpha()).isEqualTo(16.0);
    assertThat(manifest.targetModules()).containsExactly("q_proj", "v_proj");
    assertThat(manifest.metrics().evalLoss()).isEqualTo(1.2);
    assertThat(manifest.source().trial()).isEqualTo("t002");
    assertThat(manifest.source().loraJob()).isEqualTo("sweep");
    assertThat(manifest.createdAt()).isEqualTo("2026-11-26T10:00:00Z");
    assertThat(manifest.mergedPath()).isNull();
    assertThat(manifest.rankAnalysis()).isNull();
    // nothing but the version folder is left beside it
    try (var siblings = Files.list(v3.getParent())) {
      assertThat(siblings.map(p -> p.getFileName().toString())).containsOnly("trials", "v3");
    }
  }

  @Test
  void aReRunReportsTheSameVersionAndChangesNothing() throws Exception {
    Path best = best();
    PublishConfig cfg = config(best, Reports.digest(best, AdapterDigest.FILES), true, true);
    PublishSummary first = publisher.publish(cfg);
    Path v3 = Path.of(cfg.versionPath());
    String manifest = Files.readString(v3.resolve("manifest.json"));
    long modified = Files.getLastModifiedTime(v3.resolve("adapter_model.safetensors")).toMillis();

    PublishSummary again = publisher.publish(cfg);

    assertThat(again).isEqualTo(first);
    assertThat(Files.readString(v3.resolve("manifest.json"))).isEqualTo(manifest);
    assertThat(Files.getLastModifiedTime(v3.resolve("adapter_model.safetensors")).toMillis())
        .isEqualTo(modified);
    assertThat(exported).hasSize(1);
  }

  @Test
  void aPartialFolderLeftByAKilledAttemptIsReplaced() throws Exception {
    Path best = best();
    PublishConfig cfg = config(best, null, false, false);
    Path partial = tmp.resolve("out/demo/.v3.partial");
    Files.createDirectories(partial);
    Files.writeString(partial.resolve("adapter_model.safetensors"), "half a file");

    PublishSummary summary = publisher.publish(cfg);

    assertThat(summary.digest()).isEqualTo(Reports.digest(best, AdapterDigest.FILES));
    assertThat(partial).doesNotExist();
  }

  @Test
  void aTrialFolderThatChangedSinceTrainingIsRefusedAndNothingIsWritten() throws Exception {
    Path best = best();
    PublishConfig cfg = config(best, "sha256:" + "00".repeat(32), false, false);

    assertThatThrownBy(() -> publisher.publish(cfg))
        .isInstanceOfSatisfying(
            VersionPublisher.PublishException.class,
            e -> {
              assertThat(e.summary().reason()).isEqualTo("DigestMismatch");
              assertThat(e.summary().exitCode()).isEqualTo(ExitCodes.DATA_ERROR);
              assertThat(e.getMessage()).contains("changed after training");
            });
    assertThat(Path.of(cfg.versionPath())).doesNotExist();
  }

  @Test
  void aVersionFolderHoldingAnotherAdapterIsNeverOverwritten() throws Exception {
    Path best = best();
    PublishConfig cfg = config(best, null, false, false);
    Path v3 = Path.of(cfg.versionPath());
    adapter(v3, 3, 8); // other weights under the same number (records lost, numbers reused)
    Files.writeString(v3.resolve("manifest.json"), "{\"version\":3}");
    String before = Files.readString(v3.resolve("adapter_config.json"));

    assertThatThrownBy(() -> publisher.publish(cfg))
        .isInstanceOfSatisfying(
            VersionPublisher.PublishException.class,
            e -> assertThat(e.summary().reason()).isEqualTo("VersionFolderTaken"));
    assertThat(Files.readString(v3.resolve("adapter_config.json"))).isEqualTo(before);
  }

  @Test
  void rankAnalysisOnKnownSubspacesRecommendsTheNestedRank() throws Exception {
    Path best = best();
    PublishConfig cfg = config(best, null, true, false);

    PublishSummary summary = publisher.publish(cfg);

    PublishSummary.RankSummary ranks = summary.rankAnalysis();
    assertThat(ranks.message()).isNull();
    assertThat(ranks.bestRank()).isEqualTo(8);
    assertThat(ranks.topDirections()).isEqualTo(4);
    assertThat(ranks.captures()).extracting(PublishSummary.Capture::rank).containsExactly(2, 4, 16);
    for (String module : MODULES) {
      assertThat(ranks.captures().get(0).captured().get(module)).isCloseTo(0.0, within(1e-6));
      assertThat(ranks.captures().get(1).captured().get(module)).isCloseTo(1.0, within(1e-4));
      assertThat(ranks.captures().get(2).captured().get(module)).isCloseTo(1.0, within(1e-4));
    }
    assertThat(ranks.recommendedRank()).isEqualTo(4);

    Path v3 = Path.of(cfg.versionPath());
    JsonNode json = ContractJson.mapper().readTree(v3.resolve("rank-analysis.json").toFile());
    JsonNode q = json.get("comparisons").get(1).get("modules").get("q_proj");
    assertThat(q.get("layers").asInt()).isEqualTo(2);
    // best's top-i against the nested rank-4's top-j: the first shares min(i, j) directions
    JsonNode phi = q.get("phi");
    assertThat(phi).hasSize(8);
    assertThat(phi.get(0)).hasSize(4);
    assertThat(phi.get(1).get(3).asDouble()).isCloseTo(1.0, within(1e-4));
    assertThat(phi.get(7).get(3).asDouble()).isCloseTo(1.0, within(1e-4));
    String svg = Files.readString(v3.resolve("rank-analysis.svg"));
    assertThat(svg).startsWith("<svg").contains("rank 4 (t001), q_proj: 1.00").endsWith("</svg>\n");
    assertThat(
            ContractJson.mapper()
                .readValue(v3.resolve("manifest.json").toFile(), VersionManifest.class)
                .rankAnalysis())
        .isEqualTo("rank-analysis.json");
  }

  @Test
  void anUnreadableOtherTrialLeavesTheAnalysisOutNotTheVersion() throws Exception {
    Path best = best();
    PublishConfig cfg = config(best, null, true, false);
    Files.delete(Path.of(cfg.rankAnalysis().others().get(1).path(), "adapter_model.safetensors"));

    PublishSummary summary = publisher.publish(cfg);

    assertThat(summary.succeeded()).isTrue();
    assertThat(summary.rankAnalysis().message()).startsWith("rank analysis failed");
    assertThat(summary.rankAnalysis().recommendedRank()).isNull();
  }

  @Test
  void theMergedExportRunsIntoTheVersionFolderAndIsRecorded() throws Exception {
    Path best = best();
    PublishConfig cfg = config(best, null, false, true);

    PublishSummary summary = publisher.publish(cfg);

    Path v3 = Path.of(cfg.versionPath());
    assertThat(exported).containsExactly(tmp.resolve("model") + " .v3.partial merged");
    assertThat(summary.mergedPath()).isEqualTo(v3.resolve("merged").toString());
    assertThat(v3.resolve("merged/config.json")).exists();
    assertThat(
            ContractJson.mapper()
                .readValue(v3.resolve("manifest.json").toFile(), VersionManifest.class)
                .mergedPath())
        .isEqualTo("merged");
  }

  @Test
  void theCommandWritesItsSummaryAsTheTerminationMessage() throws Exception {
    Path best = best();
    PublishConfig cfg = config(best, Reports.digest(best, AdapterDigest.FILES), true, false);
    Path file = tmp.resolve("publish.json");
    Files.writeString(file, ContractJson.toPrettyJson(cfg));

    assertThat(Main.run(new String[] {"publish", file.toString()})).isEqualTo(0);

    String message = Files.readString(tmp.resolve("termination-log"));
    assertThat(message.getBytes(StandardCharsets.UTF_8).length)
        .isLessThan(Reports.MAX_TERMINATION_BYTES);
    PublishSummary summary = ContractJson.parsePublishSummary(message).orElseThrow();
    assertThat(summary.digest()).isEqualTo(cfg.expectedDigest());
    assertThat(summary.rankAnalysis().recommendedRank()).isEqualTo(4);

    // a changed trial folder: exit 3, the reason in the termination message
    PublishConfig wrong =
        new PublishConfig(
            cfg.contractVersion(),
            cfg.sourcePath(),
            "sha256:" + "11".repeat(32),
            tmp.resolve("out/demo/v4").toString(),
            cfg.manifest(),
            null,
            null,
            cfg.terminationMessagePath());
    Files.writeString(file, ContractJson.toPrettyJson(wrong));
    assertThat(Main.run(new String[] {"publish", file.toString()})).isEqualTo(ExitCodes.DATA_ERROR);
    assertThat(
            ContractJson.parsePublishSummary(Files.readString(tmp.resolve("termination-log")))
                .orElseThrow()
                .reason())
        .isEqualTo("DigestMismatch");
  }
}
