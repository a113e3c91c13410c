package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.TrialConfig;
import io.loraops.trainer.config.ConfigValidator;
import java.nio.file.Files;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The golden contract file is accepted; each bad value is refused with its field named. */
class ConfigValidatorTest {

  static TrialConfig golden() throws Exception {
    return ContractJson.readConfig(Files.readString(Fixtures.golden()));
  }

  @Test
  void goldenTrialConfigOfTheContractIsAccepted() throws Exception {
    TrialConfig c = golden();
    assertThatCode(() -> ConfigValidator.validateValues(c)).doesNotThrowAnyException();
    org.assertj.core.api.Assertions.assertThat(c.lora().targetModules())
        .containsExactly("q_proj", "v_proj");
    org.assertj.core.api.Assertions.assertThat(c.training().maxSteps()).isEqualTo(100);
  }

  static TrialConfig.Training tr(
      TrialConfig.Training t,
      double lr,
      Integer steps,
      int batch,
      int seq,
      String sched,
      String precision) {
    return new TrialConfig.Training(
        lr,
        t.epochs(),
        steps,
        batch,
        t.gradientAccumulationSteps(),
        seq,
        t.warmupSteps(),
        sched,
        t.weightDecay(),
        t.maxGradNorm(),
        t.seed(),
        precision,
        t.checkpointEverySteps(),
        t.evalEverySteps(),
        t.packing(),
        t.gradientCheckpointing());
  }

  static Stream<Arguments> badConfigs() throws Exception {
    TrialConfig g = golden();
    TrialConfig.Lora l = g.lora();
    return Stream.of(
        Arguments.of(
            g.withLora(
                new TrialConfig.Lora(0, l.alpha(), l.dropout(), l.targetModules(), false, 1)),
            "lora.rank"),
        Arguments.of(
            g.withLora(new TrialConfig.Lora(8, -1, l.dropout(), l.targetModules(), false, 1)),
            "lora.alpha"),
        Arguments.of(
            g.withLora(new TrialConfig.Lora(8, 16, 1.5, l.targetModules(), false, 1)),
            "lora.dropout"),
        Arguments.of(
            g.withLora(new TrialConfig.Lora(8, 16, 0, List.of(), false, 1)), "lora.targetModules"),
        Arguments.of(
            g.withLora(new TrialConfig.Lora(8, 16, 0, l.targetModules(), false, 0)),
            "lora.loraPlusRatio"),
        Arguments.of(
            g.withTraining(tr(g.training(), 0, 100, 4, 128, "cosine", "fp32")),
            "training.learningRate"),
        Arguments.of(
            g.withTraining(tr(g.training(), 1e-4, null, 4, 128, "cosine", "fp32")),
            "training.maxSteps or training.epochs"),
        Arguments.of(
            g.withTraining(tr(g.training(), 1e-4, 10, 0, 128, "cosine", "fp32")),
            "training.batchSize"),
        Arguments.of(
            g.withTraining(tr(g.training(), 1e-4, 10, 4, 1, "cosine", "fp32")),
            "training.sequenceLength"),
        Arguments.of(
            g.withTraining(tr(g.training(), 1e-4, 10, 4, 128, "step", "fp32")),
            "training.scheduler"),
        Arguments.of(
            g.withTraining(tr(g.training(), 1e-4, 10, 4, 128, "cosine", "fp8")),
            "training.precision"),
        Arguments.of(g.withContractVersion(2), "contractVersion"),
        Arguments.of(
            g.withDataset(new TrialConfig.Dataset("/d", "csv", null, null)), "dataset.format"),
        Arguments.of(
            g.withDataset(new TrialConfig.Dataset("/d", "text", 1.0, null)),
            "dataset.validationSplit"),
        Arguments.of(g.withBaseModel(null), "baseModel.path"),
        Arguments.of(g.withOutput(" ", null), "outputDir"));
  }

  @ParameterizedTest
  @MethodSource("badConfigs")
  void badValueIsRefusedNamingTheField(TrialConfig c, String field) {
    assertThatThrownBy(() -> ConfigValidator.validateValues(c))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining(field)
        .satisfies(
            e ->
                org.assertj.core.api.Assertions.assertThat(((TrainerException) e).exitCode())
                    .isEqualTo(ExitCodes.BAD_CONFIG));
  }

  @Test
  void missingPathsAreRefusedNamingTheField() throws Exception {
    TrialConfig g = golden();
    assertThatThrownBy(() -> ConfigValidator.validate(g))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining("baseModel.path " + g.baseModel().path());
  }
}
