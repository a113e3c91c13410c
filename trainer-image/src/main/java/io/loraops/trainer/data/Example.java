package io.loraops.trainer.data;

/**
 * One tokenized training sequence.
 *
 * @param ids token ids, at most sequenceLength long
 * @param labels per position: the token to learn, or {@link #IGNORE} where no loss is taken
 *     (prompts, padding); aligned with ids (the shift happens when batching)
 */
public record Example(int[] ids, int[] labels) {
  /** PyTorch's ignore_index. */
  public static final int IGNORE = -100;
}
