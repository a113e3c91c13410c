package io.loraops.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;

/** The packed attention mask: causal, inside one document, and inside a sliding window. */
class PackedTest {
  static final int P = Packed.PADDING;

  @Test
  void aTokenSeesEarlierTokensOfItsOwnDocumentWithinTheWindow() {
    // one row: document 0 (3 tokens), document 1 (4 tokens), one padding
    Packed packed =
        new Packed(new long[] {0, 1, 2, 0, 1, 2, 3, 0}, new int[] {0, 0, 0, 1, 1, 1, 1, P});
    try (NDManager m = NDManager.newBaseManager()) {
      assertThat(visible(packed.mask(m, 1, 8, 0)))
          .containsExactly(
              "x.......", //
              "xx......",
              "xxx.....",
              "...x....",
              "...xx...",
              "...xxx..",
              "...xxxx.",
              "........");
      assertThat(visible(packed.mask(m, 1, 8, 2)))
          .containsExactly(
              "x.......", //
              "xx......",
              ".xx.....",
              "...x....",
              "...xx...",
              "....xx..",
              ".....xx.",
              "........");
    }
  }

  private static String[] visible(ai.djl.ndarray.NDArray mask) {
    float[] v = mask.toFloatArray();
    int t = (int) mask.getShape().get(3);
    String[] rows = new String[t];
    for (int i = 0; i < t; i++) {
      StringBuilder row = new StringBuilder();
      for (int j = 0; j < t; j++) {
        row.append(v[i * t + j] == 0f ? 'x' : '.');
      }
      rows[i] = row.toString();
    }
    return rows;
  }
}
