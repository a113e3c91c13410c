package io.loraops.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.loraops.trainer.model.SafeTensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The LoRA paper's subspace similarity ({@link SubspaceSimilarity}) between two adapters of one
 * base model, per adapted module type.
 *
 * <p>phi is computed layer by layer (the A of {@code layers.3.self_attn.q_proj} against the other
 * adapter's A of the same layer) and the matrices are averaged over the layers of a module type
 * with equal weight: the paper reports single layers, and a plain mean keeps each layer's phi in
 * [0, 1] and its meaning ("share of directions captured") while summarising the depth. A module
 * only one adapter adapts is left out.
 */
public final class RankAnalysis {
  private RankAnalysis() {}

  /**
   * @param layers how many layers the mean is over
   * @param phi mean phi(A_first, A_second, i, j) over those layers, [i - 1][j - 1], i up to the
   *     first's rank and j up to the second's (numerical ranks)
   */
  public record ModuleSimilarity(int layers, double[][] phi) {}

  /** Per module type (q_proj, v_proj, ...), in name order. */
  public static Map<String, ModuleSimilarity> compare(Path first, Path second) throws IOException {
    Map<String, double[][]> a1 = loraA(first);
    Map<String, double[][]> a2 = loraA(second);
    Map<String, double[][]> sums = new TreeMap<>();
    Map<String, Integer> layers = new TreeMap<>();
    for (var e : a1.entrySet()) {
      double[][] other = a2.get(e.getKey());
      if (other == null) {
        continue; // a module only one of them adapts
      }
      double[][] phi = SubspaceSimilarity.phi(e.getValue(), other);
      String module = e.getKey().substring(e.getKey().lastIndexOf('.') + 1);
      double[][] sum = sums.get(module);
      if (sum == null) {
        sums.put(module, phi);
      } else {
        // Layers whose A has a lower numerical rank contribute to the rows they have.
        int rows = Math.min(sum.length, phi.length);
        int cols = Math.min(sum[0].length, phi[0].length);
        double[][] merged = new double[rows][cols];
        for (int i = 0; i < rows; i++) {
          for (int j = 0; j < cols; j++) {
            merged[i][j] = sum[i][j] + phi[i][j];
          }
        }
        sums.put(module, merged);
      }
      layers.merge(module, 1, Integer::sum);
    }
    Map<String, ModuleSimilarity> out = new LinkedHashMap<>();
    sums.forEach(
        (module, sum) -> {
          int n = layers.get(module);
          double[][] mean = new double[sum.length][sum[0].length];
          for (int i = 0; i < sum.length; i++) {
            for (int j = 0; j < sum[0].length; j++) {
              mean[i][j] = sum[i][j] / n;
            }
          }
          out.put(module, new ModuleSimilarity(n, mean));
        });
    return out;
  }

  /**
   * The share of the first adapter's top-k directions that the second's whole subspace holds,
   * ||U1_k^T U2||_F^2 / k: phi(k, r2) * min(k, r2) / k, so phi(k, r2) itself when k <= r2 and at
   * most r2 / k when the second has fewer directions than asked about.
   */
  public static double captured(ModuleSimilarity similarity, int k) {
    double[][] phi = similarity.phi();
    int i = Math.min(k, phi.length);
    int r2 = phi[i - 1].length;
    return phi[i - 1][r2 - 1] * Math.min(i, r2) / i;
  }

  /** Each adapted module's A as [r][d], by module path (PEFT's key without the lora_A suffix). */
  static Map<String, double[][]> loraA(Path adapter) throws IOException {
    Map<String, double[][]> out = new TreeMap<>();
    SafeTensors st = SafeTensors.open(adapter.resolve(PeftAdapter.WEIGHTS_FILE));
    try (NDManager m = NDManager.newBaseManager()) {
      for (String key : st.entries().keySet()) {
        if (!key.endsWith(".lora_A.weight")) {
          continue;
        }
        NDArray a = st.load(key, m);
        int rows = (int) a.getShape().get(0);
        int cols = (int) a.getShape().get(1);
        float[] values = a.toType(DataType.FLOAT32, false).toFloatArray();
        double[][] matrix = new double[rows][cols];
        for (int i = 0; i < rows; i++) {
          for (int j = 0; j < cols; j++) {
            matrix[i][j] = values[i * cols + j];
          }
        }
        out.put(key.substring(0, key.length() - ".lora_A.weight".length()), matrix);
      }
    }
    return out;
  }
}
