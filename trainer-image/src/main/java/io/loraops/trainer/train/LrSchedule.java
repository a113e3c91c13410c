package io.loraops.trainer.train;

/**
 * Learning-rate multipliers as in Hugging Face transformers' {@code get_*_schedule_with_warmup}:
 * linear warmup from 0 over {@code warmup} steps, then cosine (half a period) or linear decay to 0
 * at {@code total}, or constant. {@code step} is the 0-based index of the optimizer step.
 */
public final class LrSchedule {
  public static final java.util.List<String> NAMES =
      java.util.List.of("cosine", "linear", "constant");

  private LrSchedule() {}

  public static double multiplier(String scheduler, long step, long warmup, long total) {
    if (step < warmup) {
      return (double) step / Math.max(1, warmup);
    }
    double progress = (double) (step - warmup) / Math.max(1, total - warmup);
    return switch (scheduler) {
      case "cosine" -> Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
      case "linear" -> Math.max(0.0, (double) (total - step) / Math.max(1, total - warmup));
      default -> 1.0;
    };
  }
}
