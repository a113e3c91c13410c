package io.loraops.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;

/**
 * Rotary position embedding settings (Su et al. 2021) and the inverse frequencies they give, as
 * transformers' {@code modeling_rope_utils} computes them (4.57) for each {@code rope_type}:
 *
 * <ul>
 *   <li>{@code default}: inv_freq_i = theta^(-2i/d);
 *   <li>{@code linear}: inv_freq / factor (position interpolation, Chen et al. 2023);
 *   <li>{@code dynamic}: NTK-aware base stretch, {@code theta·(factor·T/max -
 *       (factor-1))^(d/(d-2))} for sequences longer than {@code max_position_embeddings}; the
 *       trainer and server never run longer ones, so it equals {@code default} there, as in
 *       transformers;
 *   <li>{@code llama3}: Llama 3.1's frequency-dependent rescale (low frequencies / factor, high
 *       ones kept, a smooth blend between);
 *   <li>{@code yarn}: YaRN (Peng et al. 2023) ramp between interpolated and extrapolated
 *       frequencies, with cos and sin scaled by the attention factor.
 * </ul>
 *
 * <p>Read from either layout: transformers 4 keeps {@code rope_theta} at the top and the scaling in
 * {@code rope_scaling} (type under {@code rope_type} or the older {@code type}); transformers 5
 * keeps both in one {@code rope_parameters} object. Any key of those objects not used by the type
 * is refused by name.
 *
 * @param type the rope_type
 * @param theta the base
 * @param factor scaling factor (1 for default)
 * @param params the type's other parameters by their config names
 */
public record Rope(String type, double theta, double factor, Map<String, Double> params) {
  private static final Map<String, List<String>> TYPE_FIELDS =
      Map.of(
          "default", List.of(),
          "linear", List.of("factor"),
          "dynamic", List.of("factor"),
          "llama3",
              List.of(
                  "factor",
                  "low_freq_factor",
                  "high_freq_factor",
                  "original_max_position_embeddings"),
          "yarn",
              List.of(
                  "factor",
                  "attention_factor",
                  "beta_fast",
                  "beta_slow",
                  "mscale",
                  "mscale_all_dim",
                  "original_max_position_embeddings",
                  "truncate"));

  /** Reads the RoPE settings from {@code top} (the config's top level) in either layout. */
  static Rope read(ConfigFields top) {
    top.only("partial_rotary_factor", "RoPE on a fraction of the head", 1, 1.0);
    if (top.has("rope_parameters")) {
      JsonNode p = top.get("rope_parameters");
      if (!p.isObject()) {
        throw top.bad("rope_parameters", "must be an object");
      }
      if (top.has("rope_scaling")) {
        throw top.bad(
            "rope_scaling", "and rope_parameters are both set; keep one (transformers 5 layout)");
      }
      ConfigFields f = new ConfigFields(p, top.file(), "rope_parameters.");
      if (!f.has("rope_theta")) {
        throw f.bad("rope_theta", "is missing");
      }
      Rope rope = fromObject(f, f.number("rope_theta", 0));
      if (top.has("rope_theta") && top.number("rope_theta", 0) != rope.theta()) {
        throw top.bad("rope_theta", "differs from rope_parameters.rope_theta");
      }
      top.get("rope_theta");
      return rope;
    }
    double theta = top.number("rope_theta", 10000.0);
    JsonNode s = top.get("rope_scaling");
    if (s.isMissingNode() || s.isNull()) {
      return new Rope("default", theta, 1, Map.of());
    }
    if (!s.isObject()) {
      throw top.bad("rope_scaling", "must be an object or null");
    }
    return fromObject(new ConfigFields(s, top.file(), "rope_scaling."), theta);
  }

  private static Rope fromObject(ConfigFields f, double theta) {
    String type = f.text("rope_type", f.text("type", "default"));
    List<String> fields = TYPE_FIELDS.get(type);
    if (fields == null) {
      throw f.bad(
          "rope_type",
          "'"
              + type
              + "' is not supported; supported: "
              + TYPE_FIELDS.keySet().stream().sorted().toList());
    }
    Map<String, Double> params = new java.util.TreeMap<>();
    for (String name : fields) {
      JsonNode v = f.get(name);
      if (v.isNumber() || v.isBoolean()) {
        params.put(name, v.isBoolean() ? (v.asBoolean() ? 1.0 : 0.0) : v.asDouble());
      } else if (!v.isMissingNode() && !v.isNull()) {
        throw f.bad(name, "must be a number, got " + v);
      }
    }
    for (String required :
        type.equals("llama3")
            ? fields
            : fields.contains("factor") ? List.of("factor") : List.<String>of()) {
      if (!params.containsKey(required)) {
        throw f.bad(required, "is required for rope_type " + type);
      }
    }
    f.refuseRest("rope_type " + type);
    return new Rope(type, theta, params.getOrDefault("factor", 1.0), Map.copyOf(params));
  }

  /**
   * The inverse frequencies [d/2] for head width {@code dim}, in float32 as the reference.
   *
   * @param maxPositions the config's {@code max_position_embeddings}
   * @param seqLen the longest position + 1 of this forward pass (only {@code dynamic} uses it)
   */
  public float[] invFreq(int dim, int maxPositions, int seqLen) {
    double base = theta;
    if (type.equals("dynamic")) {
      int len = Math.max(seqLen, maxPositions);
      base = theta * Math.pow(factor * len / maxPositions - (factor - 1), dim / (dim - 2.0));
    }
    float[] inv = new float[dim / 2];
    for (int i = 0; i < inv.length; i++) {
      // float32 like the reference: base ** (arange(0, d, 2).float() / d)
      float exponent = (float) (2 * i) / dim;
      inv[i] = (float) (1.0 / (float) Math.pow(base, exponent));
    }
    switch (type) {
      case "linear" -> scaleAll(inv, (float) factor);
      case "llama3" -> llama3(inv);
      case "yarn" -> yarn(inv, dim, maxPositions);
      default -> {}
    }
    return inv;
  }

  /** The factor cos and sin are multiplied by (YaRN's attention temperature; 1 otherwise). */
  public float attentionScaling() {
    if (!type.equals("yarn")) {
      return 1f;
    }
    Double given = params.get("attention_factor");
    if (given != null) {
      return given.floatValue();
    }
    Double mscale = params.get("mscale");
    Double mscaleAllDim = params.get("mscale_all_dim");
    if (mscale != null && mscale != 0 && mscaleAllDim != null && mscaleAllDim != 0) {
      return (float) (yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim));
    }
    return (float) yarnMscale(factor, 1);
  }

  private static double yarnMscale(double scale, double mscale) {
    return scale <= 1 ? 1.0 : 0.1 * mscale * Math.log(scale) + 1.0;
  }

  private static void scaleAll(float[] inv, float factor) {
    for (int i = 0; i < inv.length; i++) {
      inv[i] /= factor;
    }
  }

  /** Llama 3.1: wavelengths beyond old_ctx/low are divided by factor, below old_ctx/high kept. */
  private void llama3(float[] inv) {
    double low = params.get("low_freq_factor");
    double high = params.get("high_freq_factor");
    double oldCtx = params.get("original_max_position_embeddings");
    double lowWavelen = oldCtx / low;
    double highWavelen = oldCtx / high;
    for (int i = 0; i < inv.length; i++) {
      float wavelen = (float) (2 * Math.PI / inv[i]);
      float scaled = wavelen > lowWavelen ? (float) (inv[i] / factor) : inv[i];
      if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
        float smooth = (float) ((oldCtx / wavelen - low) / (high - low));
        scaled = (float) ((1 - smooth) * scaled / factor + smooth * scaled);
      }
      inv[i] = scaled;
    }
  }

  /** YaRN: a linear ramp over dims between the correction range blends 1/factor and 1. */
  private void yarn(float[] inv, int dim, int maxPositions) {
    double betaFast = params.getOrDefault("beta_fast", 0.0);
    double betaSlow = params.getOrDefault("beta_slow", 0.0);
    betaFast = betaFast == 0 ? 32 : betaFast; // the reference's `or 32`
    betaSlow = betaSlow == 0 ? 1 : betaSlow;
    double orig = params.getOrDefault("original_max_position_embeddings", 0.0);
    orig = orig == 0 ? maxPositions : orig;
    boolean truncate = params.getOrDefault("truncate", 1.0) != 0;
    double lo = correctionDim(betaFast, dim, orig);
    double hi = correctionDim(betaSlow, dim, orig);
    if (truncate) {
      lo = Math.floor(lo);
      hi = Math.ceil(hi);
    }
    lo = Math.max(lo, 0);
    hi = Math.min(hi, dim - 1);
    if (lo == hi) {
      hi += 0.001; // the reference's guard against a zero-width ramp
    }
    for (int i = 0; i < inv.length; i++) {
      float ramp = (float) Math.min(1, Math.max(0, (i - (float) lo) / (float) (hi - lo)));
      float extrapolation = 1 - ramp;
      float interpolated = (float) (inv[i] / factor);
      inv[i] = interpolated * (1 - extrapolation) + inv[i] * extrapolation;
    }
  }

  private double correctionDim(double rotations, int dim, double maxPositions) {
    return dim * Math.log(maxPositions / (rotations * 2 * Math.PI)) / (2 * Math.log(theta));
  }
}
