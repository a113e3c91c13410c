package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.loraops.trainer.data.Batches;
import io.loraops.trainer.data.Batches.Batch;
import io.loraops.trainer.data.Example;
import io.loraops.trainer.lora.LoraInjector;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.Packed;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Sequence packing: several examples per row compute exactly what each computes alone (attention
 * and positions restart at every example), so the loss of packed rows equals the loss of the same
 * examples one per padded row.
 */
class PackingTest {

  /** Examples of mixed lengths, some with a prompt (labels IGNORE) before the answer. */
  static List<Example> examples(int count, int vocab, long seed) {
    Random random = new Random(seed);
    List<Example> out = new ArrayList<>();
    for (int n = 0; n < count; n++) {
      int length = 3 + random.nextInt(14);
      int prompt = n % 2 == 0 ? random.nextInt(length - 1) : 0;
      int[] ids = new int[length];
      int[] labels = new int[length];
      for (int t = 0; t < length; t++) {
        ids[t] = 3 + random.nextInt(vocab - 3);
        labels[t] = t < prompt ? Example.IGNORE : ids[t];
      }
      out.add(new Example(ids, labels));
    }
    return out;
  }

  @Test
  void rowsTakeWholeExamplesInOrderUntilTheNextDoesNotFit() {
    List<Example> examples = new ArrayList<>();
    for (int length : new int[] {5, 6, 4, 9, 2, 2}) {
      examples.add(new Example(new int[length], new int[length]));
    }
    List<List<Example>> rows = Batches.pack(examples, 12);
    assertThat(rows.stream().map(r -> r.stream().mapToInt(e -> e.ids().length).boxed().toList()))
        .containsExactly(List.of(5, 6), List.of(4), List.of(9, 2), List.of(2));
  }

  @Test
  void aPackedRowPredictsNothingAcrossExamplesAndRestartsPositions() {
    Example a = new Example(new int[] {10, 11, 12}, new int[] {-100, 11, 12});
    Example b = new Example(new int[] {20, 21}, new int[] {20, 21});
    Batch batch = Batches.packRows(List.of(List.of(a, b), List.of(b)), 0);
    assertThat(batch.length()).isEqualTo(5);
    assertThat(batch.ids()).containsExactly(10, 11, 12, 20, 21, 20, 21, 0, 0, 0);
    // 12 -> 20 would cross from one example into the next: no target there
    assertThat(batch.targets()).containsExactly(11, 12, -100, 21, -100, 21, -100, -100, -100, -100);
    assertThat(batch.packed().positions()).containsExactly(0, 1, 2, 0, 1, 0, 1, 0, 0, 0);
    assertThat(batch.packed().documents())
        .containsExactly(0, 0, 0, 1, 1, 0, 0, Packed.PADDING, Packed.PADDING, Packed.PADDING);
    assertThat(batch.tokens()).isEqualTo(7);
    assertThat(batch.lossTokens()).isEqualTo(4);
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama", "tiny-llama-h32"})
  void packedRowsHaveTheLossOfTheSameExamplesOnePerRow(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager();
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      // trained-looking adapters (B not zero), so LoRA's path is part of what must match
      for (LoraLinear l :
          LoraInjector.inject(model, new LoraSpec(4, 8, 0.0, List.of("all-linear"), false), 3)) {
        l.loraB().set(m.randomNormal(l.loraB().getShape()).mul(0.05f).toFloatArray());
      }
      List<Example> examples = examples(12, model.config().vocabSize(), 7);
      Batch packed = Batches.packRows(Batches.pack(examples, 32), 0);
      assertThat(packed.rows()).isLessThan(examples.size());
      Batch padded = Batches.pad(examples, 0);
      assertThat(packed.lossTokens()).isEqualTo(padded.lossTokens());

      float packedLoss = loss(model, m, packed);
      float paddedLoss = loss(model, m, padded);
      assertThat(packedLoss).isCloseTo(paddedLoss, within(1e-5f * Math.abs(paddedLoss)));
    }
  }

  private static float loss(CausalLM model, NDManager m, Batch b) {
    return model
        .lossSum(m.create(b.ids(), new Shape(b.rows(), b.length())), b.packed(), b.targets(), false)
        .getFloat();
  }
}
