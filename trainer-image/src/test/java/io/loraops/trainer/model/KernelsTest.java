package io.loraops.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The fused attention gives the eager formula's output and gradients (fp32, within 1e-5) under
 * every mask the families use; so do the fused LoRA update, RMSNorm and cross-entropy chunk against
 * the formulas they replace; bf16 casts keep the graph.
 */
class KernelsTest {
  private static final int B = 2;
  private static final int H = 3;
  private static final int T = 24;
  private static final int HD = 8;

  /** softmax(q·kᵀ·s + mask)·v written out, as the model computed attention before. */
  private static NDArray eager(NDArray q, NDArray k, NDArray v, NDArray mask, float s) {
    NDManager m = q.getManager();
    NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).mul(Tensors.scalar(m, s));
    return scores.add(mask).softmax(-1).matMul(v);
  }

  /**
   * Output and the gradients of sum(out ⊙ g) with respect to q, k, v: [out, dq, dk, dv]; {@code
   * read} [B, 1, T, 1] is 1 where a query's output is read, 0 on padding (whose output the model
   * never reads, and whose all-masked row the kernels treat differently).
   */
  private static float[][] run(
      NDManager m, long seed, Function<NDArray[], NDArray> attention, NDArray read) {
    Engine.getEngine("PyTorch").setRandomSeed((int) seed);
    NDArray[] qkv = new NDArray[3];
    for (int i = 0; i < 3; i++) {
      qkv[i] = m.randomNormal(new Shape(B, H, T, HD));
      qkv[i].setRequiresGradient(true);
    }
    NDArray g = m.randomNormal(new Shape(B, H, T, HD)).mul(read);
    float[] out;
    try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
      NDArray y = attention.apply(qkv).mul(read);
      out = y.toFloatArray();
      gc.backward(y.mul(g).sum());
    }
    return new float[][] {
      out,
      qkv[0].getGradient().toFloatArray(),
      qkv[1].getGradient().toFloatArray(),
      qkv[2].getGradient().toFloatArray()
    };
  }

  private static void assertSame(float[][] fused, float[][] reference) {
    String[] names = {"output", "dq", "dk", "dv"};
    for (int i = 0; i < 4; i++) {
      double worst = 0;
      for (int j = 0; j < fused[i].length; j++) {
        worst = Math.max(worst, Math.abs(fused[i][j] - reference[i][j]));
      }
      assertThat(worst).as(names[i] + ": largest difference").isLessThan(1e-5);
    }
  }

  private static void compare(NDArray mask, boolean causalKernel) {
    compare(mask, causalKernel, mask.getManager().ones(new Shape(B, 1, T, 1)));
  }

  private static void compare(NDArray mask, boolean causalKernel, NDArray read) {
    NDManager m = mask.getManager();
    float s = 1f / (float) Math.sqrt(HD);
    try (Kernels k = Kernels.load(m)) {
      NDArray scale = Tensors.scalar(m, s);
      float[][] fused =
          run(m, 5, a -> k.attention(a[0], a[1], a[2], causalKernel ? null : mask, scale), read);
      float[][] reference = run(m, 5, a -> eager(a[0], a[1], a[2], mask, s), read);
      assertSame(fused, reference);
    }
  }

  @Test
  void causalKernelMatchesEagerAttention() {
    try (NDManager m = NDManager.newBaseManager()) {
      compare(CausalLM.causalMask(m, 0, T, 0), true);
    }
  }

  @Test
  void causalMaskMatchesEagerAttention() {
    try (NDManager m = NDManager.newBaseManager()) {
      compare(CausalLM.causalMask(m, 0, T, 0), false);
    }
  }

  @Test
  void slidingWindowMatchesEagerAttention() {
    try (NDManager m = NDManager.newBaseManager()) {
      compare(CausalLM.causalMask(m, 0, T, 5), false);
    }
  }

  @Test
  void packedDocumentsWithPaddingMatchEagerAttention() {
    long[] positions = new long[B * T];
    int[] documents = new int[B * T];
    // row 0: documents of 10, 9 and 5 tokens; row 1: 17 tokens then 7 of padding
    int[][] lengths = {{10, 9, 5}, {17}};
    for (int r = 0; r < B; r++) {
      int at = 0;
      for (int d = 0; d < lengths[r].length; d++) {
        for (int p = 0; p < lengths[r][d]; p++, at++) {
          positions[r * T + at] = p;
          documents[r * T + at] = d;
        }
      }
      for (; at < T; at++) {
        documents[r * T + at] = Packed.PADDING;
      }
    }
    float[] read = new float[B * T];
    for (int i = 0; i < read.length; i++) {
      read[i] = documents[i] == Packed.PADDING ? 0 : 1;
    }
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray mask = new Packed(positions, documents).mask(m, B, T, 4);
      compare(mask, false, Tensors.floats(m, read, new Shape(B, 1, T, 1)));
    }
  }

  @Test
  void bf16CastsRoundAndKeepTheGraph() {
    try (NDManager m = NDManager.newBaseManager();
        Kernels k = Kernels.load(m)) {
      NDArray x = Tensors.floats(m, new float[] {1f, 1.00390625f, 3.14159f, -2e-3f}, new Shape(4));
      x.setRequiresGradient(true);
      float[] back;
      try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
        NDArray half = k.cast(x, DataType.BFLOAT16);
        NDArray y = k.cast(half.mul(half), DataType.FLOAT32); // x² in bf16
        back = k.cast(half, DataType.FLOAT32).toFloatArray();
        gc.backward(y.sum());
      }
      // bf16 keeps 8 significant bits: 1 + 2^-8 rounds to 1 (ties to even), pi to 3.140625
      assertThat(back).containsExactly(1f, 1f, 3.140625f, -0.0019989014f);
      // d(x²)/dx = 2x, computed from the bf16 values
      assertThat(x.getGradient().toFloatArray()).containsExactly(2f, 2f, 6.28125f, -0.0039978027f);
    }
  }

  private static double largestDifference(NDArray a, NDArray b) {
    float[] x = a.toFloatArray();
    float[] y = b.toFloatArray();
    assertThat(x).hasSameSizeAs(y);
    double worst = 0;
    for (int i = 0; i < x.length; i++) {
      worst = Math.max(worst, Math.abs(x[i] - y[i]));
    }
    return worst;
  }

  /** The output and the gradients of sum(out ⊙ g) with respect to {@code inputs}. */
  private static List<NDArray> outputAndGradients(
      NDArray[] inputs, Function<NDArray[], NDArray> f, long seed) {
    NDManager m = inputs[0].getManager();
    Engine.getEngine("PyTorch").setRandomSeed((int) seed);
    for (NDArray a : inputs) {
      a.setRequiresGradient(true);
    }
    NDList out = new NDList();
    try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
      NDArray y = f.apply(inputs);
      NDArray g = m.randomNormal(y.getShape());
      out.add(y.duplicate());
      gc.backward(y.mul(g).sum());
    }
    for (NDArray a : inputs) {
      out.add(a.getGradient().duplicate());
    }
    return out;
  }

  private static void assertSameOutputAndGradients(List<NDArray> fused, List<NDArray> eager) {
    for (int i = 0; i < fused.size(); i++) {
      assertThat(largestDifference(fused.get(i), eager.get(i)))
          .as(i == 0 ? "output" : "gradient of input " + (i - 1))
          .isLessThan(1e-5);
    }
  }

  @Test
  void loraUpdateAddedInPlaceMatchesTheEagerFormula() {
    try (NDManager m = NDManager.newBaseManager();
        Kernels k = Kernels.load(m)) {
      Engine.getEngine("PyTorch").setRandomSeed(11);
      NDArray x = m.randomNormal(new Shape(10, 12)); // [N, in]
      NDArray w = m.randomNormal(new Shape(7, 12)); // W0 [out, in]
      NDArray a = m.randomNormal(new Shape(4, 12)); // A [r, in]
      NDArray b = m.randomNormal(new Shape(7, 4)); // B [out, r]
      float s = 0.75f;
      NDArray scale = Tensors.scalar(m, s);
      Function<NDArray[], NDArray> base =
          in -> in[0].getNDArrayInternal().linear(in[0], w, null).get(0);
      List<NDArray> fused =
          outputAndGradients(
              new NDArray[] {x.duplicate(), a.duplicate(), b.duplicate()},
              in -> k.loraAdd(base.apply(in), in[0], in[1], in[2], scale),
              3);
      List<NDArray> eager =
          outputAndGradients(
              new NDArray[] {x.duplicate(), a.duplicate(), b.duplicate()},
              in ->
                  base.apply(in)
                      .add(in[0].matMul(in[1].transpose()).matMul(in[2].transpose()).mul(scale)),
              3);
      assertSameOutputAndGradients(fused, eager);
    }
  }

  @Test
  void rmsNormMatchesTheFormula() {
    try (NDManager m = NDManager.newBaseManager();
        Kernels k = Kernels.load(m)) {
      Engine.getEngine("PyTorch").setRandomSeed(13);
      NDArray x = m.randomNormal(new Shape(2, 5, 16));
      NDArray w = m.randomNormal(new Shape(16));
      NDArray eps = Tensors.scalar(m, 1e-5f);
      List<NDArray> fused =
          outputAndGradients(new NDArray[] {x.duplicate()}, in -> k.rmsNorm(in[0], w, eps), 5);
      List<NDArray> eager =
          outputAndGradients(
              new NDArray[] {x.duplicate()},
              in -> in[0].div(in[0].square().mean(new int[] {-1}, true).add(eps).sqrt()).mul(w),
              5);
      assertSameOutputAndGradients(fused, eager);
    }
  }

  @Test
  void crossEntropyChunkMatchesTheOneHotFormula() {
    try (NDManager m = NDManager.newBaseManager();
        Kernels k = Kernels.load(m)) {
      Engine.getEngine("PyTorch").setRandomSeed(17);
      int vocab = 50;
      NDArray logits = m.randomNormal(new Shape(6, vocab)).mul(Tensors.scalar(m, 4f));
      NDArray target = Tensors.longs(m, new long[] {0, 49, 7, 7, 23, 1}, new Shape(6));
      NDArray logp = logits.logSoftmax(-1);
      NDArray onehot = target.oneHot(vocab, DataType.FLOAT32);
      float loss = -logp.mul(onehot).sum().getFloat();
      NDArray delta = logp.exp().sub(onehot);

      NDList both = k.crossEntropy(logits, target, true);
      assertThat(both.get(0).getFloat()).isCloseTo(loss, offset(1e-4f));
      assertThat(largestDifference(both.get(1), delta)).isLessThan(1e-6);
      assertThat(k.crossEntropy(logits, target, false).singletonOrThrow().getFloat())
          .isEqualTo(both.get(0).getFloat());

      // bf16 logits: log-softmax in float32, the gradient back in bf16 for the matmul with the head
      NDArray half = k.cast(logits, DataType.BFLOAT16);
      NDList fromHalf = k.crossEntropy(half, target, true);
      assertThat(fromHalf.get(0).getDataType()).isEqualTo(DataType.FLOAT32);
      assertThat(fromHalf.get(1).getDataType())
          .isNotEqualTo(DataType.FLOAT32); // bf16: UNKNOWN in DJL
      NDArray halfDelta = k.cast(k.cast(delta, DataType.BFLOAT16), DataType.FLOAT32);
      assertThat(largestDifference(k.cast(fromHalf.get(1), DataType.FLOAT32), halfDelta))
          .isLessThan(1e-2); // the bf16 logits differ from the float32 ones by their rounding
    }
  }
}
