package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.loraops.trainer.lora.LoraLinear;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * LLaMA (Touvron et al. 2023) as in Hugging Face {@code LlamaForCausalLM}: RMSNorm, rotary position
 * embeddings in the "rotate half" layout, SwiGLU MLP, grouped-query attention, tied or untied head.
 */
final class LlamaModel extends CausalLM {
  private final LoraLinear[] q;
  private final LoraLinear[] k;
  private final LoraLinear[] v;
  private final LoraLinear[] o;
  private final LoraLinear[] gate;
  private final LoraLinear[] up;
  private final LoraLinear[] down;

  LlamaModel(ModelConfig c, NDManager manager, Map<String, NDArray> weights) {
    super(c, manager, weights);
    int n = c.layers();
    q = new LoraLinear[n];
    k = new LoraLinear[n];
    v = new LoraLinear[n];
    o = new LoraLinear[n];
    gate = new LoraLinear[n];
    up = new LoraLinear[n];
    down = new LoraLinear[n];
    for (int i = 0; i < n; i++) {
      String p = "model.layers." + i + ".";
      q[i] = lin(p + "self_attn.q_proj", c.attentionBias());
      k[i] = lin(p + "self_attn.k_proj", c.attentionBias());
      v[i] = lin(p + "self_attn.v_proj", c.attentionBias());
      o[i] = lin(p + "self_attn.o_proj", c.attentionBias());
      gate[i] = lin(p + "mlp.gate_proj", c.mlpBias());
      up[i] = lin(p + "mlp.up_proj", c.mlpBias());
      down[i] = lin(p + "mlp.down_proj", c.mlpBias());
    }
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
      put(s, p + "self_attn.q_proj", new Shape(qd, d), c.attentionBias());
      put(s, p + "self_attn.k_proj", new Shape(kvd, d), c.attentionBias());
      put(s, p + "self_attn.v_proj", new Shape(kvd, d), c.attentionBias());
      put(s, p + "self_attn.o_proj", new Shape(d, qd), c.attentionBias());
      s.put(p + "post_attention_layernorm.weight", new Shape(d));
      put(s, p + "mlp.gate_proj", new Shape(inter, d), c.mlpBias());
      put(s, p + "mlp.up_proj", new Shape(inter, d), c.mlpBias());
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

  @Override
  public NDArray hidden(NDArray ids, boolean training) {
    long b = ids.getShape().get(0);
    int t = (int) ids.getShape().get(1);
    int hd = config.headDim();
    int nH = config.heads();
    int nKv = config.kvHeads();
    NDArray[] rope = rope(t, hd); // cos, sin: [T, hd]
    NDArray mask = causalMask(t); // [T, T]
    NDArray h = embed(ids, w("model.embed_tokens.weight")); // [B, T, D]
    for (int i = 0; i < config.layers(); i++) {
      String p = "model.layers." + i + ".";
      NDArray a = rmsNorm(h, p + "input_layernorm.weight"); // [B, T, D]
      NDArray qh = split(q[i].forward(a, training), b, t, nH, hd); // [B, H, T, hd]
      NDArray kh = split(k[i].forward(a, training), b, t, nKv, hd); // [B, KV, T, hd]
      NDArray vh = split(v[i].forward(a, training), b, t, nKv, hd); // [B, KV, T, hd]
      qh = applyRope(qh, rope[0], rope[1]);
      kh = applyRope(kh, rope[0], rope[1]);
      kh = repeatKv(kh, nH / nKv); // [B, H, T, hd]
      vh = repeatKv(vh, nH / nKv);
      NDArray y = attention(qh, kh, vh, mask); // [B, T, H*hd]
      h = h.add(o[i].forward(y, training)); // [B, T, D]
      NDArray m = rmsNorm(h, p + "post_attention_layernorm.weight");
      NDArray g = gate[i].forward(m, training); // [B, T, I]
      NDArray silu = g.mul(g.getNDArrayInternal().sigmoid()); // SwiGLU gate
      h = h.add(down[i].forward(silu.mul(up[i].forward(m, training)), training)); // [B, T, D]
    }
    return rmsNorm(h, "model.norm.weight");
  }

  private static NDArray split(NDArray x, long b, long t, long heads, long hd) {
    return x.reshape(b, t, heads, hd).transpose(0, 2, 1, 3); // [B, T, h*hd] -> [B, h, T, hd]
  }

  /** x · rsqrt(mean(x²) + eps) · w, in float32 as Hugging Face's LlamaRMSNorm. */
  private NDArray rmsNorm(NDArray x, String weight) {
    NDArray var = x.square().mean(new int[] {-1}, true); // [B, T, 1]
    return x.div(var.add(Tensors.scalar(manager, (float) config.normEps())).sqrt()).mul(w(weight));
  }

  /** cos and sin tables [T, hd] with inv_freq = theta^(-2i/hd), duplicated over both halves. */
  private NDArray[] rope(int t, int hd) {
    int half = hd / 2;
    float[] cos = new float[t * hd];
    float[] sin = new float[t * hd];
    for (int i = 0; i < half; i++) {
      // float32 like the reference: inv_freq and the position product are computed in float.
      float invFreq = (float) (1.0 / Math.pow(config.ropeTheta(), (2.0 * i) / hd));
      for (int pos = 0; pos < t; pos++) {
        float angle = pos * invFreq;
        float c = (float) Math.cos(angle);
        float s = (float) Math.sin(angle);
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
