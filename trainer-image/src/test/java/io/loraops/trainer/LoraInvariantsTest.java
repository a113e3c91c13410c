package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.loraops.trainer.data.Batches;
import io.loraops.trainer.data.Batches.Batch;
import io.loraops.trainer.data.Example;
import io.loraops.trainer.lora.LoraInjector;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.lora.PeftAdapter;
import io.loraops.trainer.lora.RandomAdapter;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.train.AdamW;
import io.loraops.trainer.train.Trainer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The LoRA invariants of STYLE.md on tiny GPT-2 and LLaMA models (tied and untied), and for
 * serving: named adapters held side by side give, when selected, the logits of that adapter alone.
 */
class LoraInvariantsTest {
  private static final LoraSpec SPEC = new LoraSpec(4, 8, 0.0, List.of("all-linear"), false);

  @TempDir Path tmp;

  private static float[] logits(CausalLM model) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray ids = model.manager().create(Fixtures.probeIds(2 * 12, 200), new Shape(2, 12));
      return model.forward(ids, false).toFloatArray();
    }
  }

  private static Batch batch(int vocab) {
    List<Example> rows = new ArrayList<>();
    long[] ids = Fixtures.probeIds(3 * 10, vocab);
    for (int r = 0; r < 3; r++) {
      int[] x = new int[10];
      for (int t = 0; t < 10; t++) {
        x[t] = (int) ids[r * 10 + t];
      }
      rows.add(new Example(x, x));
    }
    return Batches.pad(rows, 1);
  }

  private static List<AdamW.Param> params(List<LoraLinear> layers) {
    List<AdamW.Param> p = new ArrayList<>();
    for (LoraLinear l : layers) {
      p.add(new AdamW.Param(PeftAdapter.keyA(l), l.loraA(), 1));
      p.add(new AdamW.Param(PeftAdapter.keyB(l), l.loraB(), 1));
    }
    return p;
  }

  private static void train(CausalLM model, AdamW opt, int steps) {
    Engine engine = Engine.getEngine("PyTorch");
    for (int s = 0; s < steps; s++) {
      Trainer.accumulate(engine, model, model.manager(), opt, List.of(batch(200)), s + 1, () -> {});
      opt.step(5e-2, 1.0);
    }
  }

  private static Map<String, float[]> snapshot(CausalLM model) {
    Map<String, float[]> s = new LinkedHashMap<>();
    model.weights().forEach((k, v) -> s.put(k, v.toFloatArray()));
    return s;
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama", "tiny-llama-tied"})
  void untrainedAdapterLeavesOutputsBitIdentical(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      float[] base = logits(model);
      LoraInjector.inject(model, SPEC, 3);
      assertThat(logits(model)).containsExactly(base);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
  void onlyAandBGetGradientsAndBaseWeightsStayBitIdentical(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      Map<String, float[]> before = snapshot(model);
      List<LoraLinear> layers = LoraInjector.inject(model, SPEC, 3);
      AdamW opt = new AdamW(params(layers), m, 0.01);
      Trainer.accumulate(
          Engine.getEngine("PyTorch"), model, m, opt, List.of(batch(200)), 1, () -> {});
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        for (NDArray w : model.weights().values()) {
          assertThat(w.hasGradient()).as("base weight has a gradient").isFalse();
        }
        for (LoraLinear l : layers) {
          assertThat(l.loraA().hasGradient()).isTrue();
          assertThat(l.loraB().getGradient().abs().sum().getFloat())
              .as("gradient of B in %s", l.path())
              .isGreaterThan(0f);
        }
      }
      opt.step(5e-2, 1.0);
      train(model, opt, 4);
      Map<String, float[]> after = snapshot(model);
      assertThat(after.keySet()).containsExactlyElementsOf(before.keySet());
      before.forEach((k, v) -> assertThat(after.get(k)).as(k).containsExactly(v));
      assertThat(layers.get(0).loraB().abs().sum().getFloat()).isGreaterThan(0f);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama", "tiny-phi3"})
  void mergeAddsScaledBATimesAndUnmergeRestores(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      List<LoraLinear> layers = LoraInjector.inject(model, SPEC, 3);
      train(model, new AdamW(params(layers), m, 0), 3);
      float[] adapted = logits(model);
      LoraLinear l = layers.get(0);
      float[] w0 = l.weight().toFloatArray();
      float[] a = l.loraA().toFloatArray();
      float[] b = l.loraB().toFloatArray();
      int out = (int) l.outFeatures();
      int in = (int) l.inFeatures();
      int r = SPEC.rank();
      layers.forEach(LoraLinear::merge);
      float[] merged = l.weight().toFloatArray();
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          double d = 0;
          for (int k = 0; k < r; k++) {
            d += (double) b[o * r + k] * a[k * in + i];
          }
          assertThat((double) merged[o * in + i])
              .isCloseTo(w0[o * in + i] + SPEC.scale() * d, within(1e-6));
        }
      }
      float[] mergedLogits = logits(model);
      for (int i = 0; i < adapted.length; i++) {
        assertThat(mergedLogits[i]).isCloseTo(adapted[i], within(1e-4f));
      }
      layers.forEach(LoraLinear::unmerge);
      // Bit-exact: merge keeps W0 and unmerge puts it back. Subtracting scale·B·A again would not
      // be: (w + d) - d != w in float32 for most w (checked below on these very weights).
      assertThat(l.weight().toFloatArray()).containsExactly(w0);
      assertThat(logits(model)).containsExactly(adapted);
      int inexact = 0;
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          float d = merged[o * in + i] - w0[o * in + i];
          inexact += (merged[o * in + i] - d) != w0[o * in + i] ? 1 : 0;
        }
      }
      assertThat(inexact).as("weights that subtracting would not restore").isPositive();
    }
  }

  @Test
  void mergeAndUnmergeWorkOnBf16WeightsAndUnmergeRestoresTheOutputsExactly() throws Exception {
    Path adapter = tmp.resolve("bf16-adapter");
    RandomAdapter.write(
        Fixtures.model("tiny-llama"),
        adapter,
        4,
        List.of("all-linear"),
        1,
        "tiny",
        RandomAdapter.Weights.RANDOM);
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model("tiny-llama"), m, DataType.BFLOAT16);
      float[] base = logits(model);
      PeftAdapter.read(adapter, model);
      float[] adapted = logits(model);
      model.linears().values().forEach(LoraLinear::merge);
      float[] merged = logits(model);
      model.linears().values().forEach(LoraLinear::unmerge);
      assertThat(logits(model)).containsExactly(adapted);
      float dMerged = 0;
      float dBase = 0;
      for (int i = 0; i < adapted.length; i++) {
        dMerged = Math.max(dMerged, Math.abs(merged[i] - adapted[i]));
        dBase = Math.max(dBase, Math.abs(base[i] - adapted[i]));
      }
      assertThat(dMerged).as("merged vs unmerged, bf16").isLessThan(dBase / 10);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
  void savedAdapterReloadsToIdenticalOutputs(String preset) throws Exception {
    Path dir = tmp.resolve("adapter");
    float[] trained;
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      List<LoraLinear> layers = LoraInjector.inject(model, SPEC, 3);
      train(model, new AdamW(params(layers), m, 0), 3);
      trained = logits(model);
      PeftAdapter.write(dir, model, SPEC, "tiny");
    }
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      LoraSpec read = PeftAdapter.read(dir, model);
      assertThat(read.rank()).isEqualTo(SPEC.rank());
      assertThat(read.scale()).isEqualTo(SPEC.scale());
      assertThat(logits(model)).containsExactly(trained);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
  void namedAdaptersAreSelectedPerForwardAndLeaveTheBaseAlone(String preset) throws Exception {
    Path a1 = tmp.resolve("a1");
    Path a2 = tmp.resolve("a2");
    RandomAdapter.write(
        Fixtures.model(preset),
        a1,
        4,
        List.of("all-linear"),
        1,
        "tiny",
        RandomAdapter.Weights.RANDOM);
    RandomAdapter.write(
        Fixtures.model(preset),
        a2,
        2,
        List.of("all-linear"),
        2,
        "tiny",
        RandomAdapter.Weights.RANDOM);
    float[] expected1;
    float[] expected2;
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      PeftAdapter.read(a1, model);
      expected1 = logits(model);
    }
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      PeftAdapter.read(a2, model);
      expected2 = logits(model);
    }
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      Map<String, float[]> weights = snapshot(model);
      float[] base = logits(model);
      for (var named : Map.of("a1", a1, "a2", a2).entrySet()) {
        PeftAdapter.Loaded l = PeftAdapter.load(named.getValue(), model, m.newSubManager());
        l.factors()
            .forEach(
                (layer, ab) ->
                    layer.putNamed(
                        named.getKey(), new LoraLinear.Factors(ab[0], ab[1], l.spec().scale())));
      }
      assertThat(logits(model)).containsExactly(base); // held, none active
      LoraInjector.activate(model, "a1");
      assertThat(logits(model)).containsExactly(expected1);
      LoraInjector.activate(model, "a2");
      assertThat(logits(model)).containsExactly(expected2);
      LoraInjector.activate(model, null);
      assertThat(logits(model)).containsExactly(base);
      Map<String, float[]> after = snapshot(model);
      weights.forEach((k, v) -> assertThat(after.get(k)).as(k).containsExactly(v));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama-tied"})
  void lossOnTargetRowsOnlyEqualsTheFullLoss(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager();
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      Batch b = batch(200);
      b.targets()[3] = -100; // a prompt position
      NDArray ids = m.create(b.ids(), new Shape(b.rows(), b.length()));
      NDArray targets = m.create(b.targets(), new Shape(b.rows(), b.length()));
      float full =
          io.loraops.trainer.train.Losses.nllSum(model.forward(ids, false), targets).getFloat();
      float selected = model.lossSum(ids, b.targets(), false).getFloat();
      assertThat(selected).isCloseTo(full, within(1e-4f * Math.abs(full)));
    }
  }

  /**
   * The chunked loss (no [N, V] logits kept for backward) gives the same loss and the same LoRA
   * gradients as cross-entropy over the full logits, with chunks that split the rows unevenly.
   */
  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama-tied", "tiny-llama"})
  void chunkedLossHasTheFullLossesValueAndGradients(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      List<LoraLinear> layers =
          LoraInjector.inject(model, new LoraSpec(4, 8, 0.0, List.of("all-linear"), false), 5);
      for (LoraLinear l : layers) { // B = 0 would leave A without a gradient to compare
        l.loraB()
            .set(
                l.loraB()
                    .getManager()
                    .randomNormal(l.loraB().getShape())
                    .mul(0.05f)
                    .toFloatArray());
      }
      Batch b = batch(200);
      b.targets()[3] = -100; // a prompt position
      Engine engine = Engine.getEngine("PyTorch");
      float[] full = new float[1];
      List<float[]> fullGradients =
          gradients(
              engine,
              layers,
              gc -> {
                NDArray ids = m.create(b.ids(), new Shape(b.rows(), b.length()));
                NDArray targets = m.create(b.targets(), new Shape(b.rows(), b.length()));
                NDArray loss =
                    io.loraops.trainer.train.Losses.nllSum(model.forward(ids, true), targets);
                full[0] = loss.getFloat();
                gc.backward(loss);
              });
      float[] chunked = new float[1];
      List<float[]> chunkedGradients =
          gradients(
              engine,
              layers,
              gc -> {
                NDArray ids = m.create(b.ids(), new Shape(b.rows(), b.length()));
                NDArray loss = model.lossSum(ids, null, b.targets(), true, 7);
                chunked[0] = loss.getFloat();
                gc.backward(loss);
              });
      assertThat(chunked[0]).isCloseTo(full[0], within(1e-5f * Math.abs(full[0])));
      assertSameGradients(chunkedGradients, fullGradients);
    }
  }

  /**
   * Activation checkpointing (blocks recomputed one at a time in the backward pass) gives the loss
   * and LoRA gradients of the ordinary backward pass, on a packed batch too.
   */
  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama", "tiny-llama-h32"})
  void checkpointedBackwardHasTheOrdinaryGradients(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      List<LoraLinear> layers =
          LoraInjector.inject(model, new LoraSpec(4, 8, 0.0, List.of("all-linear"), false), 5);
      for (LoraLinear l : layers) {
        l.loraB().set(m.randomNormal(l.loraB().getShape()).mul(0.05f).toFloatArray());
      }
      Batch b =
          Batches.packRows(
              Batches.pack(PackingTest.examples(10, model.config().vocabSize(), 3), 40), 0);
      Engine engine = Engine.getEngine("PyTorch");
      float[] ordinary = new float[1];
      List<float[]> expected =
          gradients(
              engine,
              layers,
              gc -> {
                NDArray ids = m.create(b.ids(), new Shape(b.rows(), b.length()));
                NDArray loss = model.lossSum(ids, b.packed(), b.targets(), true);
                ordinary[0] = loss.getFloat();
                gc.backward(loss.mul(m.create(0.5f)));
              });
      float[] checkpointed = new float[1];
      List<float[]> actual =
          gradients(
              engine,
              layers,
              gc -> {
                NDArray ids = m.create(b.ids(), new Shape(b.rows(), b.length()));
                checkpointed[0] = model.lossSumCheckpointed(gc, ids, b.packed(), b.targets(), 0.5f);
              });
      assertThat(checkpointed[0]).isCloseTo(ordinary[0], within(1e-5f * ordinary[0]));
      assertSameGradients(actual, expected);
    }
  }

  private static void assertSameGradients(List<float[]> actual, List<float[]> expected) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < expected.size(); i++) {
      float[] f = expected.get(i);
      float[] c = actual.get(i);
      float scale = 0;
      for (float x : f) {
        scale = Math.max(scale, Math.abs(x));
      }
      assertThat(scale).as("gradient %d is not zero", i).isGreaterThan(0f);
      for (int j = 0; j < f.length; j++) {
        assertThat(c[j]).as("gradient %d[%d]", i, j).isCloseTo(f[j], within(1e-4f * scale));
      }
    }
  }

  /** The LoRA gradients of the loss {@code forward} builds, then zeroed for the next caller. */
  private static List<float[]> gradients(
      Engine engine,
      List<LoraLinear> layers,
      java.util.function.Consumer<GradientCollector> forwardBackward) {
    List<float[]> out = new ArrayList<>();
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      try (GradientCollector gc = engine.newGradientCollector()) {
        forwardBackward.accept(gc);
      }
      out.addAll(Fixtures.takeGradients(layers));
    }
    return out;
  }
}
