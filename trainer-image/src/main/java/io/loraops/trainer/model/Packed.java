package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Where each token of a packed batch sits: rows hold several documents (training examples) one
 * after another, and each document is computed as if it were alone, as transformers does for packed
 * rows given {@code position_ids}: positions restart at 0 for each document, and a token attends
 * only to earlier tokens of its own document.
 *
 * @param positions per token (rows x length, row-major): its position inside its document (0 on
 *     padding)
 * @param documents per token: its document's number in the row ({@link #PADDING} on padding)
 */
public record Packed(long[] positions, int[] documents) {
  /** The document number of padding: it attends to nothing and nothing attends to it. */
  public static final int PADDING = -1;

  /** The largest position in the batch, plus one: the length RoPE tables are computed for. */
  public int span() {
    long max = 0;
    for (long p : positions) {
      max = Math.max(max, p);
    }
    return (int) max + 1;
  }

  /**
   * The additive attention mask [B, 1, T, T]: query i sees key j iff both are in the same document,
   * {@code j <= i}, and, with {@code window > 0}, {@code j > i - window}. A padding query sees
   * nothing (its row of scores is all {@link CausalLM#MASKED}, finite, so softmax stays defined;
   * its output is never read).
   */
  NDArray mask(NDManager manager, int rows, int length, int window) {
    float[] mask = new float[rows * length * length];
    for (int r = 0; r < rows; r++) {
      for (int i = 0; i < length; i++) {
        int doc = documents[r * length + i];
        for (int j = 0; j < length; j++) {
          boolean visible =
              doc != PADDING
                  && documents[r * length + j] == doc
                  && j <= i
                  && (window <= 0 || j > i - window);
          mask[(r * length + i) * length + j] = visible ? 0f : CausalLM.MASKED;
        }
      }
    }
    return Tensors.floats(manager, mask, new Shape(rows, 1, length, length));
  }

  /** Gathers rows of {@code table} [P, W] by each token's position: [B, T, W]. */
  NDArray byPosition(NDManager manager, NDArray table, int rows, int length) {
    NDArray index = Tensors.longs(manager, positions, new Shape((long) rows * length));
    return table.get(index).reshape(rows, length, table.getShape().get(1));
  }
}
