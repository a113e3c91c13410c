package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import io.loraops.contract.ContractJson;
import io.loraops.contract.TrialConfig;
import io.loraops.trainer.data.Batches;
import io.loraops.trainer.data.Example;
import io.loraops.trainer.lora.LoraInjector;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.train.Trainer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code training.precision: bf16}: frozen weights and activations in bfloat16, LoRA parameters,
 * gradients, optimizer state and loss in float32; its losses track fp32's.
 */
class MixedPrecisionTest {
  /**
   * The documented tolerance, bf16 vs fp32 from the same seed over 50 steps at learning rate 1e-2:
   * every step's loss within 2% and each 10-step mean within 1% (relative). bf16 keeps 8
   * significant bits (a relative rounding of 2^-9, 0.2%) and the roundings of a layer add up;
   * measured: steps within 0.9%, 10-step means within 0.25%, first step (the base model's forward
   * pass) 0.06%. At a 3x higher learning rate single steps of the two runs drift apart by up to 25%
   * while their curves stay together: the comparison needs a stable run to mean something.
   */
  static final double STEP = 0.02;

  static final double WINDOW = 0.01;

  @TempDir Path tmp;

  private List<Double> losses(String preset, String precision, boolean packing) throws Exception {
    Path data = Fixtures.countingData(tmp, 64, 1);
    Path out = tmp.resolve(preset + "-" + precision);
    TrialConfig base =
        Fixtures.config(Fixtures.model(preset), data, out, List.of("all-linear"), 50);
    TrialConfig c =
        base.withLora(new TrialConfig.Lora(8, 16, 0.0, List.of("all-linear"), false, 1.0))
            .withTraining(
                new TrialConfig.Training(
                    1e-2,
                    null,
                    50,
                    8,
                    1,
                    packing ? 64 : 16,
                    5,
                    "cosine",
                    0.0,
                    1.0,
                    42,
                    precision,
                    0,
                    0,
                    packing,
                    packing));
    new Trainer(new PrintStream(new ByteArrayOutputStream())).train(c);
    JsonNode history =
        ContractJson.mapper().readTree(out.resolve("metrics.json").toFile()).get("history");
    List<Double> losses = new ArrayList<>();
    history.forEach(r -> losses.add(r.get("loss").asDouble()));
    return losses;
  }

  private static double mean(List<Double> xs, int from) {
    return xs.subList(from, from + 10).stream()
        .mapToDouble(Double::doubleValue)
        .average()
        .orElseThrow();
  }

  private static double relative(double a, double reference) {
    return Math.abs(a - reference) / reference;
  }

  /** GPT-2 plainly; Llama packed with activation checkpointing (the other bf16 code paths). */
  @ParameterizedTest
  @CsvSource({"tiny-gpt2, false", "tiny-llama, true"})
  void bf16LossesTrackFp32Over50Steps(String preset, boolean packing) throws Exception {
    List<Double> fp32 = losses(preset, "fp32", packing);
    List<Double> bf16 = losses(preset, "bf16", packing);
    assertThat(bf16).hasSize(50);
    assertThat(bf16.get(0)).as("bf16 really computes in bf16").isNotEqualTo(fp32.get(0));
    double worst = 0;
    for (int i = 0; i < 50; i++) {
      worst = Math.max(worst, relative(bf16.get(i), fp32.get(i)));
    }
    System.out.printf("%s: bf16 vs fp32, largest step difference %.4f%n", preset, worst);
    assertThat(worst).as("largest relative step loss difference").isLessThan(STEP);
    for (int from = 0; from < 50; from += 10) {
      double diff = relative(mean(bf16, from), mean(fp32, from));
      System.out.printf(
          "%s steps %d-%d: bf16 vs fp32 mean loss %.4f%n", preset, from + 1, from + 10, diff);
      assertThat(diff).as("steps %d-%d", from + 1, from + 10).isLessThan(WINDOW);
    }
    assertThat(bf16.get(49)).as("and learns").isLessThan(bf16.get(0) * 0.6);
  }

  @Test
  void frozenWeightsAreBf16AndTheAdapterAndItsGradientsFloat32() throws Exception {
    Engine engine = Engine.getEngine("PyTorch");
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model("tiny-llama"), m, DataType.BFLOAT16);
      List<LoraLinear> layers =
          LoraInjector.inject(model, new LoraSpec(4, 8, 0.0, List.of("q_proj"), false), 1);
      // DJL has no bfloat16 code: such arrays read as UNKNOWN
      assertThat(model.weights().get("model.layers.0.self_attn.q_proj.weight").getDataType())
          .isEqualTo(DataType.UNKNOWN);
      assertThat(model.weights().get("model.embed_tokens.weight").getDataType())
          .isEqualTo(DataType.UNKNOWN);
      assertThat(model.weights().get("model.layers.0.input_layernorm.weight").getDataType())
          .isEqualTo(DataType.FLOAT32);
      List<Example> ex = List.of(new Example(new int[] {5, 6, 7, 8, 9}, new int[] {5, 6, 7, 8, 9}));
      Batches.Batch b = new Batches(ex, 1, 1, 0, false).get(0);
      // B starts at zero, so only B has a gradient after the first backward pass
      double loss = Trainer.forwardBackward(engine, model, m, b, 1, false);
      assertThat(loss).isFinite().isPositive();
      LoraLinear q = layers.get(0);
      assertThat(q.loraA().getDataType()).isEqualTo(DataType.FLOAT32);
      assertThat(q.loraB().getGradient().getDataType()).isEqualTo(DataType.FLOAT32);
      assertThat(q.loraB().getGradient().abs().sum().getFloat()).isGreaterThan(0f);
    }
  }
}
