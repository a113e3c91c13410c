package io.loraops.trainer.lora;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The LoRA paper's subspace similarity on adapters whose subspaces are known by construction:
 * identical, orthogonal, shifted by one direction, and rank-deficient.
 */
class SubspaceSimilarityTest {
  static final int D = 32;

  /** Rows {@code scale_k * e_(first + k)}, mixed by a random rotation on the left (U, not V). */
  static double[][] axes(int first, int rank, long seed) {
    double[][] a = new double[rank][D];
    for (int k = 0; k < rank; k++) {
      a[k][first + k] = rank - k + 0.5; // descending singular values: e_first is the top direction
    }
    return mixRows(a, seed);
  }

  /** Q·a for a random orthogonal Q (Gram-Schmidt of a Gaussian matrix). */
  static double[][] mixRows(double[][] a, long seed) {
    int r = a.length;
    Random random = new Random(seed);
    double[][] q = new double[r][r];
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < r; j++) {
        q[i][j] = random.nextGaussian();
      }
      for (int k = 0; k < i; k++) {
        double dot = 0;
        for (int j = 0; j < r; j++) {
          dot += q[i][j] * q[k][j];
        }
        for (int j = 0; j < r; j++) {
          q[i][j] -= dot * q[k][j];
        }
      }
      double norm = 0;
      for (int j = 0; j < r; j++) {
        norm += q[i][j] * q[i][j];
      }
      for (int j = 0; j < r; j++) {
        q[i][j] /= Math.sqrt(norm);
      }
    }
    double[][] out = new double[r][a[0].length];
    for (int i = 0; i < r; i++) {
      for (int k = 0; k < r; k++) {
        for (int c = 0; c < a[0].length; c++) {
          out[i][c] += q[i][k] * a[k][c];
        }
      }
    }
    return out;
  }

  @Test
  void anAdapterCapturesAllOfItselfAndNothingOfAnOrthogonalOne() {
    double[][] a = axes(0, 8, 1);
    double[][] phi = SubspaceSimilarity.phi(a, mixRows(a, 2));
    for (double[] row : phi) {
      for (double p : row) {
        assertThat(p).isCloseTo(1.0, within(1e-9));
      }
    }
    for (double[] row : SubspaceSimilarity.phi(axes(0, 4, 3), axes(4, 8, 4))) {
      for (double p : row) {
        assertThat(p).isCloseTo(0.0, within(1e-12));
      }
    }
  }

  /**
   * A rank-4 adapter on e1..e4 against a rank-8 one on e0..e7: the top-i directions of the first
   * share min(i, j - 1) directions with the top-j of the second, so phi = min(i, j - 1) / min(i,
   * j).
   */
  @Test
  void aSubspaceShiftedByOneDirectionHasTheClosedFormSimilarity() {
    double[][] phi = SubspaceSimilarity.phi(axes(1, 4, 5), axes(0, 8, 6));
    assertThat(phi.length).isEqualTo(4);
    assertThat(phi[0].length).isEqualTo(8);
    for (int i = 1; i <= 4; i++) {
      for (int j = 1; j <= 8; j++) {
        assertThat(phi[i - 1][j - 1])
            .as("phi(%d, %d)", i, j)
            .isCloseTo((double) Math.min(i, j - 1) / Math.min(i, j), within(1e-9));
      }
    }
  }

  @Test
  void repeatedRowsCountOnceAndNoiseFreeRanksAreExact() {
    double[][] a = axes(0, 3, 7);
    double[][] repeated = {a[0], a[1], a[2], a[0].clone(), a[1].clone()};
    assertThat(SubspaceSimilarity.rightSingularVectors(repeated)).hasNumberOfRows(3);
    double[][] phi = SubspaceSimilarity.phi(repeated, a);
    assertThat(phi[2][2]).isCloseTo(1.0, within(1e-9));
  }
}
