package io.loraops.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** Cross-entropy over next-token targets, as PyTorch's with {@code ignore_index=-100}. */
public final class Losses {
  private Losses() {}

  /**
   * Sum of -log p(target) over positions whose target is not ignored.
   *
   * @param logits [B, T, V]
   * @param targets [B, T] int64, -100 where no loss is taken
   * @return scalar
   */
  public static NDArray nllSum(NDArray logits, NDArray targets) {
    NDArray logp = logits.logSoftmax(-1); // [B, T, V]
    NDArray safe = targets.maximum(0L); // [B, T], ignored -> 0 so gather stays in range
    NDArray picked = logp.gather(safe.expandDims(-1), -1).squeeze(-1); // [B, T]
    NDArray mask = targets.gte(0L).toType(DataType.FLOAT32, false); // [B, T]
    return picked.mul(mask).sum().neg();
  }
}
