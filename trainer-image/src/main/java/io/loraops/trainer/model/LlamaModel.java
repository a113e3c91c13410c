package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.loraops.trainer.lora.LoraLinear;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * LLaMA (Touvron et al. 2023) as in Hugging Face {@code LlamaForCausalLM}: RMSNorm, rotary position
 * embeddings in the "rotate half" layout, SwiGLU MLP, grouped-query attention, tied or untied head.
 *
 * <p>The same code is Mistral, Qwen2, Qwen3, Phi-3 and Gemma 3 (text): they differ from LLaMA only
 * in switches the {@link ModelConfig} carries (which projections have biases, per-head q/k RMSNorm,
 * Phi-3's fused {@code qkv_proj} and {@code gate_up_proj}, sliding-window layers with their own
 * RoPE, RoPE scaling, a head width other than hidden / heads, Gemma's norms, GELU and query scale),
 * so one parameterised model keeps a single path per behaviour.
 */
final class LlamaModel extends CausalLM {
  private final LoraLinear[] q;
  private final LoraLinear[] k;
  private final LoraLinear[] v;
  private final LoraLinear[] o;
  private final LoraLinear[] gate;
  private final LoraLinear[] up;
  private final LoraLinear[] down;
  private final LoraLinear[] qkv; // Phi-3: [q; k; v] in one layer
  private final LoraLinear[] gateUp; // Phi-3: [gate; up] in one layer
  private final Map<String, NDArray> gemmaScales = new HashMap<>(); // norm weight -> 1 + w

  LlamaModel(
      ModelConfig c, NDManager manager, Map<String, Supplier<NDArray>> weights, DataType dtype) {
    super(c, manager, weights, dtype);
    int n = c.layers();
    q = new LoraLinear[n];
    k = new LoraLinear[n];
    v = new LoraLinear[n];
    o = new LoraLinear[n];
    gate = new LoraLinear[n];
    up = new LoraLinear[n];
    down = new LoraLinear[n];
    qkv = new LoraLinear[n];
    gateUp = new LoraLinear[n];
    for (int i = 0; i < n; i++) {
      String p = "model.layers." + i + ".";
      if (c.fusedProjections()) {
        qkv[i] = lin(p + "self_attn.qkv_proj", c.qkvBias());
      } else {
        q[i] = lin(p + "self_attn.q_proj", c.qkvBias());
        k[i] = lin(p + "self_attn.k_proj", c.qkvBias());
        v[i] = lin(p + "self_attn.v_proj", c.qkvBias());
      }
      o[i] = lin(p + "self_attn.o_proj", c.oBias());
      if (c.fusedProjections()) {
        gateUp[i] = lin(p + "mlp.gate_up_proj", c.mlpBias());
      } else {
        gate[i] = lin(p + "mlp.gate_proj", c.mlpBias());
        up[i] = lin(p + "mlp.up_proj", c.mlpBias());
      }
      down[i] = lin(p + "mlp.down_proj", c.mlpBias());
    }
    if (c.gemmaNorms()) { // Gemma's RMSNorm multiplies by (1 + w): computed once, frozen like w
      for (String name : weights.keySet()) {
        if (name.endsWith("norm.weight")) {
          gemmaScales.put(name, w(name).add(Tensors.scalar(manager, 1f)));
        }
      }
    }
  }

  @Override
  protected boolean isNorm(String name) {
    return name.endsWith("norm.weight");
  }

  private LoraLinear lin(String path, boolean bias) {
    return linear(path, w(path + ".weight"), bias ? w(path + ".bias") : null);
  }

  static Map<String, Shape> shapesOf(ModelConfig c) {
    Map<String, Shape> s = new LinkedHashMap<>();
    long d = c.hidden();
    long qd = (long) c.heads() * c.headDim();
    long kvd = (long) c.kvHeads() * c.headDim();
    long inter = c.intermediate();
    s.put("model.embed_tokens.weight", new Shape(c.vocabSize(), d));
    for (int i = 0; i < c.layers(); i++) {
      String p = "model.layers." + i + ".";
      s.put(p + "input_layernorm.weight", new Shape(d));
      if (c.fusedProjections()) {
        put(s, p + "self_attn.qkv_proj", new Shape(qd + 2 * kvd, d), c.qkvBias());
      } else {
        put(s, p + "self_attn.q_proj", new Shape(qd, d), c.qkvBias());
        put(s, p + "self_attn.k_proj", new Shape(kvd, d), c.qkvBias());
        put(s, p + "self_attn.v_proj", new Shape(kvd, d), c.qkvBias());
      }
      put(s, p + "self_attn.o_proj", new Shape(d, qd), c.oBias());
      if (c.qkNorm()) {
        s.put(p + "self_attn.q_norm.weight", new Shape(c.headDim()));
        s.put(p + "self_attn.k_norm.weight", new Shape(c.headDim()));
      }
      s.put(p + "post_attention_layernorm.weight", new Shape(d));
      if (c.gemmaNorms()) {
        s.put(p + "pre_feedforward_layernorm.weight", new Shape(d));
        s.put(p + "post_feedforward_layernorm.weight", new Shape(d));
      }
      if (c.fusedProjections()) {
        put(s, p + "mlp.gate_up_proj", new Shape(2 * inter, d), c.mlpBias());
      } else {
        put(s, p + "mlp.gate_proj", new Shape(inter, d), c.mlpBias());
        put(s, p + "mlp.up_proj", new Shape(inter, d), c.mlpBias());
      }
      put(s, p + "mlp.down_proj", new Shape(d, inter), c.mlpBias());
    }
    s.put("model.norm.weight", new Shape(d));
    if (!c.tiedEmbeddings()) {
      s.put("lm_head.weight", new Shape(c.vocabSize(), d));
    }
    return s;
  }

  private static void put(Map<String, Shape> s, String path, Shape w, boolean bias) {
    s.put(path + ".weight", w);
    if (bias) {
      s.put(path + ".bias", new Shape(w.get(0)));
    }
  }

  @Override
  protected NDArray lmHead() {
    return config.tiedEmbeddings() ? w("model.embed_tokens.weight") : w("lm_head.weight");
  }

  /** What the blocks of one forward pass share: RoPE tables, masks per window, the cache. */
  private final class LlamaPass implements Pass {
    final long b;
    final int t;
    final int offset;
    final Packed packed;
    final KvCache cache;
    final NDArray[] rope; // cos, sin: [T, hd], or [B, 1, T, hd] packed
    final NDArray[] localRope; // the sliding-window layers' own RoPE (Gemma 3)
    final Map<Integer, NDArray> masks = new HashMap<>(); // window -> mask; absent: causal

    LlamaPass(NDArray ids, Packed packed, KvCache cache) {
      b = ids.getShape().get(0);
      t = (int) ids.getShape().get(1);
      offset = cache == null ? 0 : cache.length();
      this.packed = packed;
      this.cache = cache;
      int hd = config.headDim();
      rope = rope(config.rope(), offset, t, hd, packed, b);
      localRope =
          config.localRope() == config.rope()
              ? rope
              : rope(config.localRope(), offset, t, hd, packed, b);
      // Made here, in the caller's scope, not on first use: a checkpointed pass runs each block
      // in a scope of its own, which would free a mask the next block still needs.
      for (int window : config.layerWindows()) {
        masks.computeIfAbsent(
            window,
            wnd ->
                packed == null ? causalMask(offset, t, wnd) : packedMask(packed, (int) b, t, wnd));
      }
    }

    NDArray mask(int window) {
      return masks.get(window);
    }
  }

  @Override
  protected Pass begin(NDArray ids, Packed packed, KvCache cache) {
    return new LlamaPass(ids, packed, cache);
  }

  @Override
  protected NDArray embed(NDArray ids, Pass pass) {
    NDArray h = embed(ids, w("model.embed_tokens.weight")); // [B, T, D]
    if (config.gemmaNorms()) { // Gemma: embeddings x sqrt(D), a float32 constant as the reference
      h = h.mul(Tensors.scalar(manager, (float) Math.sqrt(config.hidden())));
    }
    return h;
  }

  @Override
  protected NDArray block(int i, NDArray h, Pass pass, boolean training) {
    LlamaPass c = (LlamaPass) pass;
    long b = c.b;
    int t = c.t;
    int hd = config.headDim();
    int nH = config.heads();
    int nKv = config.kvHeads();
    String p = "model.layers." + i + ".";
    NDArray a = rmsNorm(h, p + "input_layernorm.weight"); // [B, T, D]
    NDArray[] qkvOut = projectQkv(i, a, training); // [B, T, H*hd], [B, T, KV*hd] x 2
    NDArray qh = split(qkvOut[0], b, t, nH, hd); // [B, H, T, hd]
    NDArray kh = split(qkvOut[1], b, t, nKv, hd); // [B, KV, T, hd]
    NDArray vh = split(qkvOut[2], b, t, nKv, hd); // [B, KV, T, hd]
    if (config.qkNorm()) { // Qwen3, Gemma 3: RMSNorm over each head's hd, before RoPE
      qh = rmsNorm(qh, p + "self_attn.q_norm.weight");
      kh = rmsNorm(kh, p + "self_attn.k_norm.weight");
    }
    int window = config.layerWindows().get(i);
    NDArray[] cosSin = window > 0 ? c.localRope : c.rope;
    qh = applyRope(qh, cosSin[0], cosSin[1]);
    kh = applyRope(kh, cosSin[0], cosSin[1]);
    if (c.cache != null) {
      NDArray[] all = c.cache.append(i, kh, vh); // [B, KV, offset + T, hd]
      kh = all[0];
      vh = all[1];
    }
    kh = repeatKv(kh, nH / nKv); // [B, H, S, hd]
    vh = repeatKv(vh, nH / nKv);
    NDArray y = attention(qh, kh, vh, c.mask(window), (float) config.attentionScale());
    NDArray attnOut = o[i].forward(y, training); // [B, T, D]
    if (config.gemmaNorms()) {
      attnOut = rmsNorm(attnOut, p + "post_attention_layernorm.weight");
    }
    h = h.add(attnOut);
    String mlpNorm = config.gemmaNorms() ? "pre_feedforward_layernorm" : "post_attention_layernorm";
    NDArray m = rmsNorm(h, p + mlpNorm + ".weight"); // [B, T, D]
    NDArray[] gu = projectGateUp(i, m, training); // gate, up: [B, T, I]
    NDArray gated = config.gelu() ? geluTanh(gu[0]) : kernels.silu(gu[0]); // [B, T, I]
    NDArray mlpOut = down[i].forward(gated.mul(gu[1]), training); // [B, T, D]
    if (config.gemmaNorms()) {
      mlpOut = rmsNorm(mlpOut, p + "post_feedforward_layernorm.weight");
    }
    return h.add(mlpOut);
  }

  @Override
  protected NDArray finish(NDArray h, Pass pass) {
    LlamaPass c = (LlamaPass) pass;
    if (c.cache != null) {
      c.cache.advance(c.t);
    }
    return rmsNorm(h, "model.norm.weight");
  }

  /** q, k, v of layer i: three projections, or slices of Phi-3's fused one (q first, then k, v). */
  private NDArray[] projectQkv(int i, NDArray x, boolean training) {
    if (!config.fusedProjections()) {
      return new NDArray[] {
        q[i].forward(x, training), k[i].forward(x, training), v[i].forward(x, training)
      };
    }
    long qEnd = (long) config.heads() * config.headDim();
    long kEnd = qEnd + (long) config.kvHeads() * config.headDim();
    NDArray all = qkv[i].forward(x, training); // [B, T, (H + 2·KV)·hd]
    return new NDArray[] {
      all.get(new NDIndex("..., :" + qEnd)),
      all.get(new NDIndex("..., " + qEnd + ":" + kEnd)),
      all.get(new NDIndex("..., " + kEnd + ":"))
    };
  }

  /** gate and up of layer i: two projections, or the halves of Phi-3's fused one (gate first). */
  private NDArray[] projectGateUp(int i, NDArray x, boolean training) {
    if (!config.fusedProjections()) {
      return new NDArray[] {gate[i].forward(x, training), up[i].forward(x, training)};
    }
    long inter = config.intermediate();
    NDArray both = gateUp[i].forward(x, training); // [B, T, 2I]
    return new NDArray[] {
      both.get(new NDIndex("..., :" + inter)), both.get(new NDIndex("..., " + inter + ":"))
    };
  }

  private static NDArray split(NDArray x, long b, long t, long heads, long hd) {
    return x.reshape(b, t, heads, hd).transpose(0, 2, 1, 3); // [B, T, h*hd] -> [B, h, T, hd]
  }

  /**
   * x · rsqrt(mean(x²) + eps) · w, in float32 as Hugging Face's LlamaRMSNorm; Gemma scales by (1 +
   * w) instead (its weights are stored as offsets from 1). In bf16 the result is cast back after
   * the scaling, as Gemma 3 does it (Llama casts before: one rounding apart). One op, {@link
   * Kernels#rmsNorm}.
   */
  private NDArray rmsNorm(NDArray x, String weight) {
    NDArray w = config.gemmaNorms() ? gemmaScales.get(weight) : w(weight);
    return compute(kernels.rmsNorm(x, w, Tensors.scalar(manager, (float) config.normEps())));
  }

  /**
   * cos and sin tables [T, hd] of positions {@code offset} to {@code offset + t - 1} over the
   * {@link Rope}'s inverse frequencies, duplicated over both halves and multiplied by its attention
   * scaling (1 except YaRN).
   */
  /**
   * cos and sin for positions {@code offset..offset + t - 1}: [T, hd]; for a packed batch, for each
   * token's position in its document: [B, 1, T, hd] (the length RoPE scales with is then the
   * longest document's, as transformers takes it from the largest {@code position_ids}).
   */
  private NDArray[] rope(Rope settings, int offset, int t, int hd, Packed packed, long b) {
    NDArray[] out = new NDArray[2];
    if (packed == null) {
      out = rope(settings, offset, t, hd);
    } else {
      NDArray[] table = rope(settings, 0, packed.span(), hd); // [P, hd]
      for (int i = 0; i < 2; i++) {
        out[i] = packed.byPosition(manager, table[i], (int) b, t).expandDims(1); // [B, 1, T, hd]
      }
    }
    // float32 computed, then in the activations' dtype, as transformers' rotary embedding
    return new NDArray[] {compute(out[0]), compute(out[1])};
  }

  private NDArray[] rope(Rope settings, int offset, int t, int hd) {
    int half = hd / 2;
    float[] invFreq = settings.invFreq(hd, config.maxPositions(), offset + t);
    float scaling = settings.attentionScaling();
    float[] cos = new float[t * hd];
    float[] sin = new float[t * hd];
    for (int i = 0; i < half; i++) {
      for (int pos = 0; pos < t; pos++) {
        // float32 like the reference: the position product is computed in float.
        float angle = (offset + pos) * invFreq[i];
        float c = (float) Math.cos(angle) * scaling;
        float s = (float) Math.sin(angle) * scaling;
        cos[pos * hd + i] = c;
        cos[pos * hd + i + half] = c;
        sin[pos * hd + i] = s;
        sin[pos * hd + i + half] = s;
      }
    }
    return new NDArray[] {
      Tensors.floats(manager, cos, new Shape(t, hd)), Tensors.floats(manager, sin, new Shape(t, hd))
    };
  }

  /** x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1]. x: [B, h, T, hd]. */
  private static NDArray applyRope(NDArray x, NDArray cos, NDArray sin) {
    long hd = x.getShape().get(3);
    NDArray x1 = x.get(new NDIndex("..., :" + hd / 2)); // [B, h, T, hd/2]
    NDArray x2 = x.get(new NDIndex("..., " + hd / 2 + ":"));
    NDArray rotated = x2.neg().concat(x1, -1); // [B, h, T, hd]
    return x.mul(cos).add(rotated.mul(sin));
  }

  /** [B, KV, T, hd] -> [B, KV·n, T, hd], query head j reads kv head j / n (HF repeat_kv). */
  private static NDArray repeatKv(NDArray x, int n) {
    if (n == 1) {
      return x;
    }
    Shape s = x.getShape();
    return x.expandDims(2)
        .broadcast(s.get(0), s.get(1), n, s.get(2), s.get(3))
        .reshape(s.get(0), s.get(1) * n, s.get(2), s.get(3));
  }
}
