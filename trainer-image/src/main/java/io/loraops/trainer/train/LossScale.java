package io.loraops.trainer.train;

/**
 * Dynamic loss scaling for {@code training.precision: fp16}, with the rule and defaults of {@code
 * torch.amp.GradScaler}: the loss is multiplied by {@code value} before the backward pass, so that
 * gradients too small for float16 (below 6e-8, as many are) survive the passes through float16
 * activations; the optimizer divides them by it again. A step whose gradients overflowed (a
 * non-finite norm) is skipped and the scale halved; after {@link #GROWTH_INTERVAL} good steps in a
 * row it doubles, so it stays near the largest value that does not overflow.
 *
 * <p>fp32 and bf16 need none ({@link #none()}: value 1, never changes): bfloat16 has float32's
 * range.
 *
 * @param value the factor the loss is multiplied by (a power of two, so scaling is exact)
 * @param goodSteps steps in a row without an overflow since the scale last changed
 * @param dynamic whether {@link #next} ever changes the scale
 */
public record LossScale(double value, int goodSteps, boolean dynamic) {
  static final double INITIAL = 65536; // 2^16
  static final double GROWTH = 2;
  static final double BACKOFF = 0.5;
  static final int GROWTH_INTERVAL = 2000;

  /** No scaling. */
  public static LossScale none() {
    return new LossScale(1, 0, false);
  }

  /** The scaling {@code training.precision} needs: dynamic for fp16, none otherwise. */
  public static LossScale forPrecision(String precision) {
    return "fp16".equals(precision) ? new LossScale(INITIAL, 0, true) : none();
  }

  /**
   * The scale for the next step, after a step whose unscaled gradient norm was {@code gradNorm}.
   */
  public LossScale next(double gradNorm) {
    if (!dynamic) {
      return this;
    }
    if (!Double.isFinite(gradNorm)) {
      return new LossScale(value * BACKOFF, 0, true);
    }
    return goodSteps + 1 == GROWTH_INTERVAL
        ? new LossScale(value * GROWTH, 0, true)
        : new LossScale(value, goodSteps + 1, true);
  }

  /** Whether a step with this norm overflowed and is skipped (only ever with dynamic scaling). */
  public boolean overflowed(double gradNorm) {
    return dynamic && !Double.isFinite(gradNorm);
  }
}
