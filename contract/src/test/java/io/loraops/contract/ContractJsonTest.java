package io.loraops.contract;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The golden files are the contract's wire form. The operator's trial builder and the trainer's
 * config reader are each tested against the same files, so a change on one side that the other does
 * not follow fails a test.
 */
class ContractJsonTest {

  static final Path GOLDEN = Path.of("src/test/resources/golden");

  @Test
  void trialConfigRoundTripsToTheGoldenFile() throws Exception {
    String golden = Files.readString(GOLDEN.resolve("trial-config.json"), StandardCharsets.UTF_8);

    TrialConfig config = ContractJson.readConfig(golden);

    assertThat(config.lora().rank()).isEqualTo(4);
    assertThat(config.lora().alpha()).isEqualTo(8.0);
    assertThat(config.lora().targetModules()).containsExactly("q_proj", "v_proj");
    assertThat(config.training().maxSteps()).isEqualTo(100);
    assertThat(config.training().epochs()).isNull();
    assertThat(ContractJson.toPrettyJson(config)).isEqualToIgnoringWhitespace(golden);
  }

  /**
   * The operator's publish Job builder writes this file; the trainer's publish command reads it.
   */
  @Test
  void publishConfigRoundTripsToTheGoldenFile() throws Exception {
    String golden = Files.readString(GOLDEN.resolve("publish-config.json"), StandardCharsets.UTF_8);

    PublishConfig config = ContractJson.readPublishConfig(golden);

    assertThat(config.versionPath()).endsWith("/support-bot/v3");
    assertThat(config.manifest().version()).isEqualTo(3);
    assertThat(config.rankAnalysis().others())
        .extracting(PublishConfig.Candidate::rank)
        .containsExactly(4, 32);
    assertThat(ContractJson.toPrettyJson(config)).isEqualToIgnoringWhitespace(golden);
  }

  @Test
  void summaryParsesFromTheGoldenTerminationMessage() throws Exception {
    String golden = Files.readString(GOLDEN.resolve("trial-summary.json"), StandardCharsets.UTF_8);

    TrialSummary summary = ContractJson.parseSummary(golden).orElseThrow();

    assertThat(summary.succeeded()).isTrue();
    assertThat(summary.metrics().evalLoss()).isEqualTo(2.1);
    assertThat(summary.files()).containsExactly("adapter_config.json", "adapter_model.safetensors");
    assertThat(ContractJson.toJson(summary)).isEqualTo(golden.strip());
  }

  @Test
  void truncatedOrGarbageMessagesAreNotSummaries() throws Exception {
    String golden = Files.readString(GOLDEN.resolve("trial-summary.json"), StandardCharsets.UTF_8);

    assertThat(ContractJson.parseSummary(golden.substring(0, golden.length() / 2))).isEmpty();
    assertThat(ContractJson.parseSummary("Traceback (most recent call last):")).isEmpty();
    assertThat(ContractJson.parseSummary("{\"some\":\"object\"}")).isEmpty();
    assertThat(ContractJson.parseSummary("")).isEmpty();
    assertThat(ContractJson.parseSummary(null)).isEmpty();
  }

  @Test
  void failureSummaryStaysUnderTheTerminationMessageLimit() {
    TrialSummary failure =
        TrialSummary.failure(ExitCodes.DATA_ERROR, "DataError", "x".repeat(10_000));

    assertThat(ContractJson.toJson(failure).getBytes(StandardCharsets.UTF_8).length)
        .isLessThan(4096);
    assertThat(failure.files()).isEqualTo(List.of());
    assertThat(ExitCodes.reason(failure.exitCode())).isEqualTo("DataError");
  }
}
