package io.loraops.trainer.lora;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.Tensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Seeded adapters with random, non-zero B for tests, the serving benchmark and the demo: a freshly
 * initialised adapter (B = 0) would not change any output.
 */
public final class RandomAdapter {
  private RandomAdapter() {}

  /** What B holds. */
  public enum Weights {
    /** B ~ N(0, 0.3²), scale alpha / r. */
    RANDOM,
    /** As {@link #RANDOM}, with rsLoRA's scale alpha / sqrt(r). */
    RANDOM_RSLORA,
    /**
     * B all NaN: the shapes fit, so it loads, but every output it touches is NaN (a stand-in for a
     * diverged adapter).
     */
    NAN
  }

  /**
   * Writes PEFT files for the model in {@code modelDir} into {@code out}: A as PEFT initialises it
   * from {@code seed}, B ~ N(0, 0.3²), alpha = 2·rank.
   */
  public static void write(
      Path modelDir,
      Path out,
      int rank,
      List<String> targets,
      long seed,
      String baseModelName,
      Weights weights)
      throws IOException {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(modelDir, m);
      LoraSpec spec = new LoraSpec(rank, 2.0 * rank, 0, targets, weights == Weights.RANDOM_RSLORA);
      SplittableRandom random = new SplittableRandom(seed + 1);
      for (LoraLinear l : LoraInjector.inject(model, spec, seed)) {
        float[] b = new float[Math.toIntExact(l.outFeatures() * rank)];
        for (int i = 0; i < b.length; i++) {
          b[i] = weights == Weights.NAN ? Float.NaN : (float) (0.3 * random.nextGaussian());
        }
        l.setAdapter(
            l.loraA(), Tensors.floats(m, b, new Shape(l.outFeatures(), rank)), spec.scale(), 0);
      }
      PeftAdapter.write(out, model, spec, baseModelName);
    }
  }
}
