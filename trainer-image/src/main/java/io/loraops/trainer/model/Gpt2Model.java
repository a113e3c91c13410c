package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.loraops.trainer.lora.LoraLinear;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * GPT-2 (Radford et al. 2019) as in Hugging Face {@code GPT2LMHeadModel}: learned positions,
 * pre-LayerNorm blocks, fused {@code c_attn} (q, k, v), tanh-approximated GELU, tied LM head.
 *
 * <p>GPT-2 stores its projections as {@code Conv1D} with weights {@code [in, out]}; they are
 * wrapped transposed (a view, no copy) so every linear is {@code [out, in]}.
 */
final class Gpt2Model extends CausalLM {
  private final LoraLinear[] cAttn;
  private final LoraLinear[] attnProj;
  private final LoraLinear[] cFc;
  private final LoraLinear[] mlpProj;

  Gpt2Model(
      ModelConfig c, NDManager manager, Map<String, Supplier<NDArray>> weights, DataType dtype) {
    super(c, manager, weights, dtype);
    int n = c.layers();
    cAttn = new LoraLinear[n];
    attnProj = new LoraLinear[n];
    cFc = new LoraLinear[n];
    mlpProj = new LoraLinear[n];
    for (int i = 0; i < n; i++) {
      String p = "transformer.h." + i + ".";
      cAttn[i] = conv1d(p + "attn.c_attn");
      attnProj[i] = conv1d(p + "attn.c_proj");
      cFc[i] = conv1d(p + "mlp.c_fc");
      mlpProj[i] = conv1d(p + "mlp.c_proj");
    }
  }

  @Override
  protected boolean isNorm(String name) {
    return name.contains(".ln_");
  }

  private LoraLinear conv1d(String path) {
    return linear(
        path, w(path + ".weight").transpose(1, 0), w(path + ".bias")); // [in,out] -> [out,in]
  }

  static Map<String, Shape> shapesOf(ModelConfig c) {
    Map<String, Shape> s = new LinkedHashMap<>();
    long d = c.hidden();
    long inner = c.intermediate();
    s.put("transformer.wte.weight", new Shape(c.vocabSize(), d));
    s.put("transformer.wpe.weight", new Shape(c.maxPositions(), d));
    for (int i = 0; i < c.layers(); i++) {
      String p = "transformer.h." + i + ".";
      s.put(p + "ln_1.weight", new Shape(d));
      s.put(p + "ln_1.bias", new Shape(d));
      s.put(p + "attn.c_attn.weight", new Shape(d, 3 * d));
      s.put(p + "attn.c_attn.bias", new Shape(3 * d));
      s.put(p + "attn.c_proj.weight", new Shape(d, d));
      s.put(p + "attn.c_proj.bias", new Shape(d));
      s.put(p + "ln_2.weight", new Shape(d));
      s.put(p + "ln_2.bias", new Shape(d));
      s.put(p + "mlp.c_fc.weight", new Shape(d, inner));
      s.put(p + "mlp.c_fc.bias", new Shape(inner));
      s.put(p + "mlp.c_proj.weight", new Shape(inner, d));
      s.put(p + "mlp.c_proj.bias", new Shape(d));
    }
    s.put("transformer.ln_f.weight", new Shape(d));
    s.put("transformer.ln_f.bias", new Shape(d));
    if (!c.tiedEmbeddings()) {
      s.put("lm_head.weight", new Shape(c.vocabSize(), d));
    }
    return s;
  }

  @Override
  protected NDArray lmHead() {
    return config.tiedEmbeddings() ? w("transformer.wte.weight") : w("lm_head.weight");
  }

  /** What the blocks of one forward pass share: the mask and the cache. */
  private final class Gpt2Pass implements Pass {
    final long b;
    final int t;
    final int offset;
    final Packed packed;
    final KvCache cache;
    final NDArray mask; // [T, offset + T], [B, 1, T, T] packed, or null: causal

    Gpt2Pass(NDArray ids, Packed packed, KvCache cache) {
      b = ids.getShape().get(0);
      t = (int) ids.getShape().get(1);
      offset = cache == null ? 0 : cache.length();
      this.packed = packed;
      this.cache = cache;
      mask = packed == null ? causalMask(offset, t, 0) : packedMask(packed, (int) b, t, 0);
    }
  }

  @Override
  protected Pass begin(NDArray ids, Packed packed, KvCache cache) {
    return new Gpt2Pass(ids, packed, cache);
  }

  @Override
  protected NDArray embed(NDArray ids, Pass pass) {
    Gpt2Pass c = (Gpt2Pass) pass;
    NDArray wpe = w("transformer.wpe.weight");
    NDArray pos =
        c.packed == null
            ? wpe.get(new NDIndex(c.offset + ":" + (c.offset + c.t))) // [T, D]
            : c.packed.byPosition(manager, wpe, (int) c.b, c.t); // [B, T, D]
    return embed(ids, w("transformer.wte.weight")).add(pos); // [B, T, D]
  }

  @Override
  protected NDArray block(int i, NDArray h, Pass pass, boolean training) {
    Gpt2Pass c = (Gpt2Pass) pass;
    long d = config.hidden();
    int heads = config.heads();
    long hd = config.headDim();
    String p = "transformer.h." + i + ".";
    NDArray a = layerNorm(h, p + "ln_1"); // [B, T, D]
    NDArray qkv = cAttn[i].forward(a, training); // [B, T, 3D]
    NDArray q = heads(qkv.get(new NDIndex("..., 0:" + d)), c.b, c.t, heads, hd); // [B, H, T, hd]
    NDArray k = heads(qkv.get(new NDIndex("..., " + d + ":" + 2 * d)), c.b, c.t, heads, hd);
    NDArray v = heads(qkv.get(new NDIndex("..., " + 2 * d + ":")), c.b, c.t, heads, hd);
    if (c.cache != null) {
      NDArray[] all = c.cache.append(i, k, v); // [B, H, offset + T, hd]
      k = all[0];
      v = all[1];
    }
    NDArray y = attention(q, k, v, c.mask, 1f / (float) Math.sqrt(hd)); // [B, T, D]
    h = h.add(attnProj[i].forward(y, training));
    NDArray m = layerNorm(h, p + "ln_2"); // [B, T, D]
    m = geluTanh(cFc[i].forward(m, training)); // [B, T, 4D]
    return h.add(mlpProj[i].forward(m, training)); // [B, T, D]
  }

  @Override
  protected NDArray finish(NDArray h, Pass pass) {
    Gpt2Pass c = (Gpt2Pass) pass;
    if (c.cache != null) {
      c.cache.advance(c.t);
    }
    return layerNorm(h, "transformer.ln_f");
  }

  private static NDArray heads(NDArray x, long b, long t, long h, long hd) {
    return x.reshape(b, t, h, hd).transpose(0, 2, 1, 3); // [B, T, D] -> [B, H, T, hd]
  }

  /** LayerNorm in float32 (its weights are), returned in the activations' dtype. */
  private NDArray layerNorm(NDArray x, String name) {
    NDArray x32 = float32(x);
    return compute(
        x32.getNDArrayInternal()
            .layerNorm(
                x32,
                new Shape(config.hidden()),
                w(name + ".weight"),
                w(name + ".bias"),
                (float) config.normEps())
            .singletonOrThrow());
  }
}
