package io.loraops.trainer.lora;

/**
 * How much of one adapter's learned subspace another one captures: the normalized subspace
 * similarity of the LoRA paper (Hu et al. 2021, section 7.2), computed from two adapters' A
 * matrices for the same layer,
 *
 * <pre>
 * phi(A1, A2, i, j) = ||U1_i^T U2_j||_F^2 / min(i, j)
 * </pre>
 *
 * where U_i holds the top-i right-singular vectors of A (the directions of the input space the
 * update reads). phi is 1 when one top subspace contains the other and 0 when they are orthogonal;
 * the paper reads phi(A_r8, A_r64, i, j) near 1 for small i as "rank 8 already captures the top
 * directions of rank 64".
 *
 * <p>A is [r, d] with r small (at most a few hundred) and d the layer's input width, so the right
 * singular vectors come from the r x r Gram matrix A·A^T (Jacobi eigenvalues), never a d x d one:
 * v_k = A^T u_k / sigma_k.
 */
public final class SubspaceSimilarity {
  private SubspaceSimilarity() {}

  /** Singular values this far below the largest count as zero (their directions are noise). */
  static final double RELATIVE_TOLERANCE = 1e-10;

  /**
   * phi(A1, A2, i, j) for i = 1..rank(A1), j = 1..rank(A2) (numerical ranks).
   *
   * @param a1 [r1][d]
   * @param a2 [r2][d], the same d
   * @return [i - 1][j - 1]
   */
  public static double[][] phi(double[][] a1, double[][] a2) {
    if (a1[0].length != a2[0].length) {
      throw new IllegalArgumentException(
          "A matrices read inputs of different widths: " + a1[0].length + " and " + a2[0].length);
    }
    double[][] v1 = rightSingularVectors(a1);
    double[][] v2 = rightSingularVectors(a2);
    double[][] overlap = new double[v1.length][v2.length]; // (v1_a . v2_b)^2
    for (int a = 0; a < v1.length; a++) {
      for (int b = 0; b < v2.length; b++) {
        double dot = dot(v1[a], v2[b]);
        overlap[a][b] = dot * dot;
      }
    }
    // ||U1_i^T U2_j||_F^2 is the sum of overlap over a < i, b < j: a 2-D prefix sum.
    double[][] phi = new double[v1.length][v2.length];
    for (int i = 0; i < v1.length; i++) {
      double row = 0;
      for (int j = 0; j < v2.length; j++) {
        row += overlap[i][j];
        double above = i == 0 ? 0 : phi[i - 1][j] * Math.min(i, j + 1);
        phi[i][j] = (above + row) / Math.min(i + 1, j + 1);
      }
    }
    return phi;
  }

  /**
   * The right-singular vectors of {@code a} [r][d] with non-zero singular values, as rows, by
   * descending singular value.
   */
  static double[][] rightSingularVectors(double[][] a) {
    int r = a.length;
    double[][] gram = new double[r][r];
    for (int i = 0; i < r; i++) {
      for (int j = i; j < r; j++) {
        gram[i][j] = gram[j][i] = dot(a[i], a[j]);
      }
    }
    double[][] u = identity(r);
    double[] lambda = jacobiEigen(gram, u); // columns of u are eigenvectors
    Integer[] order = new Integer[r];
    for (int i = 0; i < r; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, (x, y) -> Double.compare(lambda[y], lambda[x]));
    double largest = Math.max(lambda[order[0]], 0);
    int d = a[0].length;
    java.util.List<double[]> vectors = new java.util.ArrayList<>();
    for (int k : order) {
      if (lambda[k] <= largest * RELATIVE_TOLERANCE || lambda[k] <= 0) {
        break;
      }
      double sigma = Math.sqrt(lambda[k]);
      double[] v = new double[d];
      for (int i = 0; i < r; i++) {
        double weight = u[i][k] / sigma;
        for (int c = 0; c < d; c++) {
          v[c] += a[i][c] * weight;
        }
      }
      vectors.add(v);
    }
    return vectors.toArray(new double[0][]);
  }

  /**
   * Eigenvalues of the symmetric matrix {@code m} (destroyed) by cyclic Jacobi rotations; the
   * eigenvectors accumulate as the columns of {@code v} (start from the identity).
   */
  private static double[] jacobiEigen(double[][] m, double[][] v) {
    int n = m.length;
    for (int sweep = 0; sweep < 100; sweep++) {
      double off = 0;
      for (int p = 0; p < n; p++) {
        for (int q = p + 1; q < n; q++) {
          off += m[p][q] * m[p][q];
        }
      }
      if (off < 1e-30) {
        break;
      }
      for (int p = 0; p < n; p++) {
        for (int q = p + 1; q < n; q++) {
          if (Math.abs(m[p][q]) < 1e-300) {
            continue;
          }
          double theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
          double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
          if (theta == 0) {
            t = 1;
          }
          double c = 1 / Math.sqrt(t * t + 1);
          double s = t * c;
          for (int k = 0; k < n; k++) { // m <- J^T m J, columns then rows
            double mkp = m[k][p];
            double mkq = m[k][q];
            m[k][p] = c * mkp - s * mkq;
            m[k][q] = s * mkp + c * mkq;
          }
          for (int k = 0; k < n; k++) {
            double mpk = m[p][k];
            double mqk = m[q][k];
            m[p][k] = c * mpk - s * mqk;
            m[q][k] = s * mpk + c * mqk;
          }
          for (int k = 0; k < n; k++) {
            double vkp = v[k][p];
            double vkq = v[k][q];
            v[k][p] = c * vkp - s * vkq;
            v[k][q] = s * vkp + c * vkq;
          }
        }
      }
    }
    double[] values = new double[n];
    for (int i = 0; i < n; i++) {
      values[i] = m[i][i];
    }
    return values;
  }

  private static double[][] identity(int n) {
    double[][] m = new double[n][n];
    for (int i = 0; i < n; i++) {
      m[i][i] = 1;
    }
    return m;
  }

  private static double dot(double[] x, double[] y) {
    double s = 0;
    for (int i = 0; i < x.length; i++) {
      s += x[i] * y[i];
    }
    return s;
  }
}
