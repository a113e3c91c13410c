package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.loraops.contract.ContractJson;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.trainer.data.Batches;
import io.loraops.trainer.data.Example;
import io.loraops.trainer.lora.LoraInjector;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.lora.PeftAdapter;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.train.AdamW;
import io.loraops.trainer.train.Checkpoint;
import io.loraops.trainer.train.LossScale;
import io.loraops.trainer.train.Trainer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The training loop: it learns, it does not leak, and a resumed run ends where one run ends. */
class TrainingTest {
  @TempDir Path tmp;

  private static TrialConfig withTraining(
      TrialConfig c, TrialConfig.Training t, TrialConfig.Lora l, Path out) {
    return c.withLora(l)
        .withTraining(t)
        .withOutput(out.toString(), out.resolve("termination-log").toString());
  }

  /**
   * Packed (rows of 64 tokens holding several examples each) and with activation checkpointing, or
   * neither, the adapter learns the task.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void lossFallsOnALearnableTask(boolean packing) throws Exception {
    Path data = Fixtures.countingData(tmp, 64, 1);
    TrialConfig base =
        Fixtures.config(
            Fixtures.model("tiny-llama"), data, tmp.resolve("out"), List.of("all-linear"), 60);
    TrialConfig.Training t =
        new TrialConfig.Training(
            3e-2,
            null,
            60,
            8,
            1,
            packing ? 64 : 16,
            5,
            "cosine",
            0.0,
            1.0,
            42,
            "fp32",
            0,
            0,
            packing,
            packing); // the second run also recomputes blocks in the backward pass
    TrialConfig c =
        withTraining(
            base,
            t,
            new TrialConfig.Lora(8, 16, 0.0, List.of("all-linear"), false, 1.0),
            tmp.resolve("out"));
    TrialSummary s = new Trainer(new PrintStream(new ByteArrayOutputStream())).train(c);
    var history =
        ContractJson.mapper().readTree(tmp.resolve("out/metrics.json").toFile()).get("history");
    double first = history.get(0).get("loss").asDouble();
    assertThat(s.metrics().steps()).isEqualTo(60);
    assertThat(s.metrics().trainLoss())
        .as("train loss after 60 steps vs first %s", first)
        .isLessThan(first * 0.6);
    assertThat(s.metrics().evalLoss()).isLessThan(first * 0.6);
    assertThat(s.metrics().perplexity()).isEqualTo(Math.exp(s.metrics().evalLoss()));
  }

  /**
   * Steady memory (no leak) in every training mode: fp32, and bf16 with activation checkpointing
   * (the casts and the per-block scopes of the recomputed backward pass).
   */
  @ParameterizedTest
  @CsvSource({"fp32, false", "bf16, true"})
  void nativeMemoryStaysFlatOver300Steps(String precision, boolean checkpointing) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model("tiny-gpt2"), m, Trainer.dtype(precision));
      List<LoraLinear> layers =
          LoraInjector.inject(model, new LoraSpec(4, 8, 0.1, List.of("all-linear"), false), 1);
      List<AdamW.Param> params = new ArrayList<>();
      for (LoraLinear l : layers) {
        params.add(new AdamW.Param(PeftAdapter.keyA(l), l.loraA(), 1));
        params.add(new AdamW.Param(PeftAdapter.keyB(l), l.loraB(), 2));
      }
      AdamW opt = new AdamW(params, m, 0.01);
      List<Example> ex = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        int[] ids = new int[128];
        for (int t = 0; t < ids.length; t++) {
          ids[t] = 3 + (i * 7 + t * 5) % 150;
        }
        ex.add(new Example(ids, ids));
      }
      Batches batches = new Batches(ex, 8, 1, 1, true);
      Engine engine = Engine.getEngine("PyTorch");
      // The window starts once the allocator's pools have settled.
      long arraysAt100 = 0;
      long rssAt100 = 0;
      for (int step = 0; step < 300; step++) {
        Trainer.accumulate(
            engine,
            model,
            m,
            opt,
            List.of(batches.get(step)),
            step + 1,
            () -> {},
            checkpointing,
            LossScale.none());
        opt.step(1e-3, 1.0);
        if (step == 99) {
          System.gc();
          arraysAt100 = ((BaseNDManager) m).getManagedArrays().size();
          rssAt100 = rssKb();
        }
      }
      System.gc();
      long arraysAt300 = ((BaseNDManager) m).getManagedArrays().size();
      long rssAt300 = rssKb();
      assertThat(arraysAt300).as("arrays held by the model's manager").isEqualTo(arraysAt100);
      System.out.printf(
          "%s%s: RSS %d MiB at step 100, %+d KiB by step 300 (%.2f%%)%n",
          precision,
          checkpointing ? " checkpointed" : "",
          rssAt100 / 1024,
          rssAt300 - rssAt100,
          100.0 * (rssAt300 - rssAt100) / rssAt100);
      // A leak of the step's intermediates (logits alone are 8 x 128 x vocab floats, attention
      // outputs 8 x 4 x 128 x 8 per layer) would add several MiB per step, over 500 MiB in these
      // 200 steps. The bound is half that: this JVM's RSS also moves with what the module's other
      // tests left to the allocator (in CI's full run -29% to +32% over the same window; run
      // alone -9% to +1%), which says nothing about this loop.
      assertThat(rssAt300 - rssAt100)
          .as("RSS growth from step 100 to 300, KiB")
          .isLessThan(256L * 1024);
    }
  }

  private static long rssKb() throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return 0;
  }

  @Test
  void aCheckpointKeepsTheLossScale() throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model("tiny-llama"), m, DataType.FLOAT16);
      LoraSpec spec = new LoraSpec(4, 8, 0.0, List.of("q_proj"), false);
      LoraLinear q = LoraInjector.inject(model, spec, 1).get(0);
      AdamW opt =
          new AdamW(
              List.of(
                  new AdamW.Param(PeftAdapter.keyA(q), q.loraA(), 1),
                  new AdamW.Param(PeftAdapter.keyB(q), q.loraB(), 1)),
              m,
              0);
      LossScale backedOff = new LossScale(512, 17, true); // not the initial one
      Checkpoint.save(
          tmp,
          model,
          spec,
          "tiny",
          opt,
          new Checkpoint.State("f", 3, 3, List.of(), List.of(), 48, 1.0, backedOff));
      assertThat(Checkpoint.load(tmp, "f", model, opt).orElseThrow().lossScale())
          .isEqualTo(backedOff);
    }
  }

  /** fp16 too: its loss scale is part of the state a resumed run must restore. */
  @ParameterizedTest
  @ValueSource(strings = {"fp32", "fp16"})
  void resumedRunEndsWhereAnUninterruptedRunEnds(String precision) throws Exception {
    Path data = Fixtures.countingData(tmp, 24, 2);
    TrialConfig base =
        Fixtures.config(Fixtures.model("tiny-gpt2"), data, tmp.resolve("x"), List.of("c_attn"), 9);
    // Dropout on, accumulation 2, checkpoints every 3 steps: everything resume must reproduce.
    TrialConfig.Training t =
        new TrialConfig.Training(
            1e-2, null, 9, 4, 2, 16, 2, "cosine", 0.01, 1.0, 7, precision, 3, 0, false, false);
    TrialConfig.Lora l = new TrialConfig.Lora(4, 8, 0.1, List.of("c_attn", "c_fc"), false, 4.0);
    PrintStream quiet = new PrintStream(new ByteArrayOutputStream());

    TrialConfig once = withTraining(base, t, l, tmp.resolve("once"));
    new Trainer(quiet).train(once);

    TrialConfig twice = withTraining(base, t, l, tmp.resolve("twice"));
    assertThat(new Trainer(quiet, null, 5).train(twice)).as("killed after 5 steps").isNull();
    assertThat(tmp.resolve("twice/checkpoint/trainer_state.json")).exists();
    assertThat(tmp.resolve("twice/adapter_model.safetensors")).doesNotExist();
    TrialSummary resumed = new Trainer(quiet).train(twice);

    assertThat(resumed.metrics().steps()).isEqualTo(9);
    assertThat(Files.readAllBytes(tmp.resolve("twice/adapter_model.safetensors")))
        .isEqualTo(Files.readAllBytes(tmp.resolve("once/adapter_model.safetensors")));
    var h1 =
        ContractJson.mapper().readTree(tmp.resolve("once/metrics.json").toFile()).get("history");
    var h2 =
        ContractJson.mapper().readTree(tmp.resolve("twice/metrics.json").toFile()).get("history");
    assertThat(h2.size()).isEqualTo(9);
    for (int i = 0; i < 9; i++) {
      assertThat(h2.get(i).get("loss").asDouble())
          .as("loss at step %d", i + 1)
          .isEqualTo(h1.get(i).get("loss").asDouble());
      assertThat(h2.get(i).path("lossScale").asDouble())
          .as("loss scale after step %d", i + 1)
          .isEqualTo(h1.get(i).path("lossScale").asDouble());
    }
  }

  @Test
  void epochsDecideTheStepsAndAValidationFileIsUsedWhenGiven() throws Exception {
    Path data = Fixtures.countingData(tmp.resolve("train"), 18, 4);
    Path val = Fixtures.countingData(tmp.resolve("val"), 5, 5);
    TrialConfig base =
        Fixtures.config(Fixtures.model("tiny-gpt2"), data, tmp.resolve("e"), List.of("c_fc"), 1);
    TrialConfig c =
        base.withDataset(new TrialConfig.Dataset(data.toString(), "text", null, val.toString()))
            .withTraining(
                new TrialConfig.Training(
                    1e-2, 2, null, 4, 2, 16, 0, "linear", 0.0, 0.0, 1, "fp32", 0, 2, false, false))
            .withOutput(tmp.resolve("e").toString(), null);
    TrialSummary s = new Trainer(new PrintStream(new ByteArrayOutputStream())).train(c);
    // 18 examples / batch 4 = 5 micro-batches per epoch, 2 per step: 3 steps per epoch, 2 epochs.
    assertThat(s.metrics().steps()).isEqualTo(6);
    var metrics = ContractJson.mapper().readTree(tmp.resolve("e/metrics.json").toFile());
    assertThat(metrics.get("data").get("trainExamples").asInt()).isEqualTo(18);
    assertThat(metrics.get("data").get("evalExamples").asInt()).isEqualTo(5);
    assertThat(metrics.get("evals").size()).as("evals at steps 2, 4 and the end").isEqualTo(3);
  }
}
