package io.loraops.trainer.report;

import java.util.List;
import java.util.Locale;

/**
 * An SVG heatmap of subspace similarities, one panel per compared rank and module type, drawn like
 * figure 3 of the LoRA paper: rows i = the best trial's top-i directions, columns j = the other
 * rank's top-j, colour phi from 0 (dark) to 1 (light). Plain SVG, no dependency: it renders in a
 * browser and in a README.
 */
public final class Heatmap {
  private Heatmap() {}

  /**
   * One panel.
   *
   * @param title e.g. "rank 8, q_proj"
   * @param phi [i - 1][j - 1] in [0, 1]
   */
  public record Panel(String title, double[][] phi) {}

  /** Cells are at most this many per axis (a rank-256 panel stays readable and small). */
  static final int MAX_CELLS = 64;

  private static final int PANEL = 192;
  private static final int GAP = 48;
  private static final int TOP = 72;
  private static final int MIN_WIDTH = 640;

  /**
   * @param title the figure's heading
   * @param rows one row of panels per compared rank
   */
  public static String svg(String title, List<List<Panel>> rows) {
    int columns = rows.stream().mapToInt(List::size).max().orElse(1);
    int width = Math.max(MIN_WIDTH, GAP + columns * (PANEL + GAP) + 60);
    int height = TOP + rows.size() * (PANEL + GAP + 16) + 24;
    StringBuilder s = new StringBuilder();
    s.append(
        String.format(
            Locale.ROOT,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
                + " font-family=\"sans-serif\" font-size=\"12\">\n",
            width,
            height,
            width,
            height));
    s.append(String.format("<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height));
    s.append(text(GAP, 24, 14, "bold", title));
    s.append(
        text(
            GAP,
            42,
            11,
            "normal",
            "phi(i, j) = ||U_best,i^T U_other,j||_F^2 / min(i, j) over lora_A's right-singular"
                + " vectors (LoRA paper, 7.2)"));
    s.append(
        text(
            GAP,
            57,
            11,
            "normal",
            "rows i: the best trial's top-i directions; columns j: the other rank's top-j;"
                + " mean over layers"));
    for (int r = 0; r < rows.size(); r++) {
      for (int c = 0; c < rows.get(r).size(); c++) {
        int x = GAP + c * (PANEL + GAP);
        int y = TOP + 16 + r * (PANEL + GAP + 16);
        panel(s, rows.get(r).get(c), x, y);
      }
    }
    legend(s, width - 44, TOP + 16);
    s.append("</svg>\n");
    return s.toString();
  }

  private static void panel(StringBuilder s, Panel p, int x, int y) {
    int rows = Math.min(p.phi().length, MAX_CELLS);
    int cols = Math.min(p.phi()[0].length, MAX_CELLS);
    double cell = (double) PANEL / Math.max(rows, cols);
    s.append(text(x, y - 6, 12, "normal", p.title()));
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        double v = p.phi()[i][j];
        s.append(
            String.format(
                Locale.ROOT,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>i=%d"
                    + " j=%d phi=%.3f</title></rect>\n",
                x + j * cell,
                y + i * cell,
                cell + 0.05,
                cell + 0.05,
                colour(v),
                i + 1,
                j + 1,
                v));
      }
    }
    s.append(
        String.format(
            Locale.ROOT,
            "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n",
            x,
            y,
            cols * cell,
            rows * cell));
    s.append(text(x, (int) (y + rows * cell + 14), 10, "normal", "j = 1.." + cols));
    s.append(text(x - 4, y + 10, 10, "normal", "i", "end"));
  }

  private static void legend(StringBuilder s, int x, int y) {
    int steps = 20;
    for (int k = 0; k < steps; k++) {
      double v = 1 - (double) k / (steps - 1);
      s.append(
          String.format(
              Locale.ROOT,
              "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"8\" fill=\"%s\"/>\n",
              x,
              y + k * 8,
              colour(v)));
    }
    s.append(text(x + 16, y + 8, 10, "normal", "1"));
    s.append(text(x + 16, y + steps * 8, 10, "normal", "0"));
  }

  /** Viridis, linearly between five of its stops. */
  static String colour(double v) {
    double[][] stops = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    double t = Double.isNaN(v) ? 0 : Math.max(0, Math.min(1, v)) * (stops.length - 1);
    int k = Math.min((int) t, stops.length - 2);
    double f = t - k;
    int[] rgb = new int[3];
    for (int c = 0; c < 3; c++) {
      rgb[c] = (int) Math.round(stops[k][c] + f * (stops[k + 1][c] - stops[k][c]));
    }
    return String.format("#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  }

  private static String text(int x, int y, int size, String weight, String content) {
    return text(x, y, size, weight, content, "start");
  }

  private static String text(int x, int y, int size, String weight, String content, String anchor) {
    return String.format(
        Locale.ROOT,
        "<text x=\"%d\" y=\"%d\" font-size=\"%d\" font-weight=\"%s\" text-anchor=\"%s\">%s</text>\n",
        x,
        y,
        size,
        weight,
        anchor,
        escape(content));
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
