package io.loraops.trainer.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.loraops.trainer.lora.LoraLinear;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A decoder-only transformer written as NDArray operations over weights held by Hugging Face name,
 * so that LoRA can wrap any linear layer and weights load straight from safetensors.
 *
 * <p>Every linear layer is a {@link LoraLinear} registered under its module path; the rest
 * (embeddings, norms) is frozen. Nothing here allocates outside the caller's NDScope except at
 * construction.
 *
 * <p>Precision ({@code training.precision}): in fp32 everything is float32. In bf16 (mixed
 * precision, as transformers with a bf16 model under autocast and PEFT's float32 adapters) the
 * frozen weights of the linear layers, embeddings and head are held in bfloat16 and the activations
 * between them are bfloat16; norms are computed in float32 on float32 weights, attention's softmax
 * in float32 inside the fused kernel, the loss's log-softmax in float32; LoRA's A and B stay
 * float32 (cast to bf16 for their matmuls, as autocast does), so their gradients and the optimizer
 * state are float32. fp16 is the same with float16 in place of bfloat16, for GPUs without bf16 (T4,
 * V100): float16 keeps 3 more bits than bfloat16 but overflows past 65,504, so its gradients need
 * loss scaling ({@code train.LossScale}); the masks and the float32 sums here stay finite in it.
 */
public abstract class CausalLM {
  /**
   * A masked score in the additive attention masks: float16's lowest finite value, so the mask
   * stays finite in every dtype the model runs in (as transformers' {@code finfo(dtype).min} for
   * float16) and a row with no visible key, a padding query's, keeps a defined softmax. Any score
   * plus this is so far below the visible ones that its weight is exactly 0.
   */
  public static final float MASKED = -65504f;

  protected final ModelConfig config;
  protected final NDManager manager;
  protected final Map<String, NDArray> weights; // HF name -> tensor, frozen
  protected final Map<String, LoraLinear> linears = new LinkedHashMap<>(); // module path -> layer
  protected final Kernels kernels;
  private final DataType dtype; // of the frozen matmul weights and the activations

  /**
   * @param weights by Hugging Face name, each loaded (float32) as the model is built; in mixed
   *     precision all but the norm weights ({@link #isNorm}) are narrowed to {@code dtype} one at a
   *     time as they load, so float32 copies of the whole model never exist at once (they would set
   *     the process's peak memory, and the allocator keeps much of what is freed)
   */
  protected CausalLM(
      ModelConfig config,
      NDManager manager,
      Map<String, Supplier<NDArray>> weights,
      DataType dtype) {
    this.config = config;
    this.manager = manager;
    this.dtype = dtype;
    this.kernels = Kernels.load(manager);
    this.weights = new LinkedHashMap<>();
    for (Map.Entry<String, Supplier<NDArray>> e : weights.entrySet()) {
      NDArray weight = e.getValue().get();
      if (dtype != DataType.FLOAT32 && !isNorm(e.getKey())) {
        NDArray narrow = kernels.cast(weight, dtype);
        weight.close();
        weight = narrow;
      }
      this.weights.put(e.getKey(), weight);
    }
  }

  /** Builds the model of {@code config}'s family over float32 weights, in {@code dtype}. */
  public static CausalLM create(
      ModelConfig config,
      NDManager manager,
      Map<String, Supplier<NDArray>> weights,
      DataType dtype) {
    if (dtype != DataType.FLOAT32 && dtype != DataType.BFLOAT16 && dtype != DataType.FLOAT16) {
      throw new IllegalArgumentException(
          "models run in FLOAT32, BFLOAT16 or FLOAT16, not " + dtype);
    }
    return config.family().equals("gpt2")
        ? new Gpt2Model(config, manager, weights, dtype)
        : new LlamaModel(config, manager, weights, dtype);
  }

  /** Whether weight {@code name} belongs to a norm (kept float32 in every precision). */
  protected abstract boolean isNorm(String name);

  /** FLOAT32, or BFLOAT16 or FLOAT16 in mixed precision. */
  public DataType dtype() {
    return dtype;
  }

  /** {@code x} in the activations' dtype (a cast the gradient flows through; none in fp32). */
  protected final NDArray compute(NDArray x) {
    return dtype == DataType.FLOAT32 ? x : kernels.cast(x, dtype);
  }

  /** {@code x} in float32 (a cast the gradient flows through; none in fp32). */
  protected final NDArray float32(NDArray x) {
    return dtype == DataType.FLOAT32 ? x : kernels.cast(x, DataType.FLOAT32);
  }

  /** The weight names and shapes a checkpoint of {@code config} must hold. */
  public static Map<String, Shape> expectedShapes(ModelConfig config) {
    return config.family().equals("gpt2")
        ? Gpt2Model.shapesOf(config)
        : LlamaModel.shapesOf(config);
  }

  /** ids [B, T] int64 -> logits [B, T, vocab]. */
  public NDArray forward(NDArray ids, boolean training) {
    return forward(ids, null, training);
  }

  /** As {@link #forward(NDArray, boolean)} for a batch laid out by {@code packed} (null: none). */
  public NDArray forward(NDArray ids, Packed packed, boolean training) {
    NDArray h = hidden(ids, packed, training, null); // [B, T, D]
    return float32(h.getNDArrayInternal().linear(h, lmHead(), null).singletonOrThrow()); // [B,T,V]
  }

  /**
   * The next-token logits after the last position, for generation: the LM head runs on one row per
   * sequence instead of T.
   *
   * @param ids [B, T] int64
   * @return [B, V]
   */
  public NDArray lastLogits(NDArray ids) {
    return lastLogits(ids, null);
  }

  /**
   * As {@link #lastLogits(NDArray)}, continuing the sequence held in {@code cache} (null: none):
   * {@code ids} are only the positions after those already cached, and are added to it.
   *
   * @param ids [B, T] int64, the new positions
   * @return [B, V]
   */
  public NDArray lastLogits(NDArray ids, KvCache cache) {
    NDArray h = hidden(ids, false, cache); // [B, T, D]
    NDArray last = h.get(new NDIndex(":, -1, :")); // [B, D]
    return float32(last.getNDArrayInternal().linear(last, lmHead(), null).singletonOrThrow());
  }

  /**
   * Sum of next-token losses, computing the LM head only where a target exists (prompt and padding
   * positions, often most of an instruction dataset, cost no [V]-wide logits) and a chunk of rows
   * at a time ({@link ChunkedCrossEntropy}: no [N, V] logits are kept for backward). Same value and
   * gradients as {@code Losses.nllSum(forward(ids), targets)}.
   *
   * @param ids [B, T] int64
   * @param targets B·T next-token targets, {@code -100} where no loss is taken
   * @return scalar
   */
  public NDArray lossSum(NDArray ids, long[] targets, boolean training) {
    return lossSum(ids, null, targets, training);
  }

  /** As {@link #lossSum(NDArray, long[], boolean)} for a batch laid out by {@code packed}. */
  public NDArray lossSum(NDArray ids, Packed packed, long[] targets, boolean training) {
    return lossSum(
        ids,
        packed,
        targets,
        training,
        ChunkedCrossEntropy.rowsPerChunk(config.vocabSize(), manager.getDevice()));
  }

  /** As {@link #lossSum(NDArray, Packed, long[], boolean)}, {@code chunk} rows at a time. */
  public NDArray lossSum(NDArray ids, Packed packed, long[] targets, boolean training, int chunk) {
    return lossOfHidden(hidden(ids, packed, training, null), targets, training, chunk);
  }

  /**
   * One forward and backward pass with activation checkpointing ({@code
   * training.gradientCheckpointing}). The forward pass runs outside the autograd graph and keeps
   * only each block's input; the backward pass then recomputes one block at a time, last to first,
   * with its graph, and sends the gradient with respect to its output G through it (as sum(output ⊙
   * G)): that leaves the block's LoRA gradients and the gradient with respect to its input, the G
   * of the block before. Only one block's activations exist at a time, for about one more forward
   * pass of compute; the gradients are those of {@link #lossSum} (a test compares them). LoRA
   * dropout draws the same masks when a block is recomputed as in the forward pass: each block's
   * random seed is set before both, drawn from the engine's generator, so a seeded step stays
   * reproducible.
   *
   * @param scale the factor of the loss whose gradient is taken (1 / (loss tokens x accumulation))
   * @return the loss sum (not scaled)
   */
  public float lossSumCheckpointed(
      GradientCollector gc, NDArray ids, Packed packed, long[] targets, float scale) {
    Engine engine = manager.getEngine();
    int base =
        manager
            .randomInteger(0, Integer.MAX_VALUE / 2, new Shape(1), DataType.INT32)
            .getInt(); // from the step's seed
    Pass pass = begin(ids, packed, null);
    List<NDArray> inputs = new ArrayList<>();
    NDArray h;
    boolean recording = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    try {
      h = embed(ids, pass);
      for (int i = 0; i < config.layers(); i++) {
        inputs.add(h);
        engine.setRandomSeed(base + i);
        int layer = i;
        NDArray in = h;
        h = keepOnly(() -> block(layer, in, pass, true));
      }
    } finally {
      JniUtils.setGradMode(recording);
    }
    NDArray last = h.stopGradient();
    last.setRequiresGradient(true);
    NDArray loss =
        lossOfHidden(
            finish(last, pass),
            targets,
            true,
            ChunkedCrossEntropy.rowsPerChunk(config.vocabSize(), manager.getDevice()));
    gc.backward(loss.mul(Tensors.scalar(manager, scale)));
    NDArray g = last.getGradient(); // [B, T, D]
    for (int i = config.layers() - 1; i >= 0; i--) {
      int layer = i;
      NDArray upstream = g;
      g =
          keepOnly(
              () -> {
                NDArray input = inputs.get(layer).stopGradient();
                if (layer > 0) { // block 0's input is the frozen embedding: no gradient wanted
                  input.setRequiresGradient(true);
                }
                engine.setRandomSeed(base + layer);
                // float32: DJL's backward seeds with ones of the target's dtype, and has no bf16
                gc.backward(kernels.sumFloat32(block(layer, input, pass, true).mul(upstream)));
                return layer > 0 ? input.getGradient() : null;
              });
    }
    return loss.getFloat();
  }

  /**
   * Runs {@code work} in a scope of its own and keeps only its result (registered with the caller's
   * scope): DJL frees a tensor only when its handle is closed, so without this every intermediate
   * of every block would live until the step's scope ends, which is what checkpointing is there to
   * avoid.
   */
  private static NDArray keepOnly(java.util.function.Supplier<NDArray> work) {
    NDArray result;
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      result = work.get();
      if (result != null) {
        NDScope.unregister(result);
      }
    }
    if (result != null) {
      NDScope.register(result);
    }
    return result;
  }

  /** The loss sum over the final hidden states {@code h} [B, T, D]; see {@link #lossSum}. */
  private NDArray lossOfHidden(NDArray h, long[] targets, boolean training, int chunk) {
    int n = 0;
    for (long t : targets) {
      n += t >= 0 ? 1 : 0;
    }
    long[] rows = new long[n];
    long[] wanted = new long[n];
    for (int i = 0, k = 0; i < targets.length; i++) {
      if (targets[i] >= 0) {
        rows[k] = i;
        wanted[k++] = targets[i];
      }
    }
    if (n == 0) {
      return kernels.sumFloat32(h).mul(Tensors.scalar(manager, 0f)); // keeps the graph, loss 0
    }
    NDArray picked =
        h.reshape(-1, config.hidden()).get(Tensors.longs(manager, rows, new Shape(n))); // [N, D]
    return ChunkedCrossEntropy.lossSum(picked, lmHead(), wanted, chunk, training, kernels);
  }

  /** ids [B, T] -> final normalised hidden states [B, T, D]. */
  public NDArray hidden(NDArray ids, boolean training) {
    return hidden(ids, null, training, null);
  }

  /**
   * ids [B, T] at positions {@code cache.length()} and on -> final normalised hidden states [B, T,
   * D], attending to the cached positions too, whose keys and values are extended by these (cache
   * null: positions 0 and on, nothing kept).
   */
  public NDArray hidden(NDArray ids, boolean training, KvCache cache) {
    return hidden(ids, null, training, cache);
  }

  /**
   * The hidden states of a batch whose rows may hold several documents ({@code packed}; null: one
   * sequence per row, positions from the cache's length). Packed rows are for training only: they
   * take no cache.
   */
  protected final NDArray hidden(NDArray ids, Packed packed, boolean training, KvCache cache) {
    Pass pass = begin(ids, packed, cache);
    NDArray h = embed(ids, pass);
    for (int i = 0; i < config.layers(); i++) {
      int layer = i;
      NDArray in = h;
      // Without a cache (which keeps arrays made inside a block), each block's intermediates are
      // let go as soon as it is done: the autograd graph holds what backward needs on its own.
      h =
          cache == null
              ? keepOnly(() -> block(layer, in, pass, training))
              : block(i, h, pass, training);
    }
    return finish(h, pass);
  }

  /** What the blocks of one forward pass share (RoPE tables, masks, the cache), per family. */
  protected interface Pass {}

  /** Prepares a forward pass over {@code ids} [B, T]. */
  protected abstract Pass begin(NDArray ids, Packed packed, KvCache cache);

  /** Token (and position) embeddings: [B, T, D]; frozen, so nothing here needs a gradient. */
  protected abstract NDArray embed(NDArray ids, Pass pass);

  /** Transformer block {@code layer}: [B, T, D] -> [B, T, D]. */
  protected abstract NDArray block(int layer, NDArray h, Pass pass, boolean training);

  /** The final norm (and the cache moved on): [B, T, D]. */
  protected abstract NDArray finish(NDArray h, Pass pass);

  /** The output projection [V, D] (the token embedding when tied). */
  protected abstract NDArray lmHead();

  public ModelConfig config() {
    return config;
  }

  public NDManager manager() {
    return manager;
  }

  /** Every linear layer by module path, in model order. */
  public Map<String, LoraLinear> linears() {
    return Collections.unmodifiableMap(linears);
  }

  /** Base weights by Hugging Face name. */
  public Map<String, NDArray> weights() {
    return Collections.unmodifiableMap(weights);
  }

  protected NDArray w(String name) {
    NDArray a = weights.get(name);
    if (a == null) {
      throw new IllegalStateException("weight not loaded: " + name);
    }
    return a;
  }

  protected LoraLinear linear(String path, NDArray weightOutIn, NDArray bias) {
    LoraLinear l = new LoraLinear(path, weightOutIn, bias, this::compute, kernels);
    linears.put(path, l);
    return l;
  }

  protected static NDArray embed(NDArray ids, NDArray table) {
    return ids.getNDArrayInternal().embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
  }

  /**
   * The attention mask of {@code t} new queries at positions {@code offset} and on, in the
   * activations' dtype: null where the fused kernel's own causal mask is the same (no cache, no
   * window), else additive [T, offset + T]: query i (at offset + i) sees key j iff {@code offset +
   * i - window < j <= offset + i} (window 0: no window), as transformers' {@code
   * sliding_window_overlay} (Mistral, Qwen sliding layers).
   */
  protected NDArray causalMask(int offset, int t, int window) {
    return offset == 0 && window <= 0 ? null : compute(causalMask(manager, offset, t, window));
  }

  /** The additive mask [T, offset + T] of {@link #causalMask(int, int, int)}, float32. */
  static NDArray causalMask(NDManager manager, int offset, int t, int window) {
    int s = offset + t;
    float[] mask = new float[t * s];
    for (int i = 0; i < t; i++) {
      int at = offset + i;
      for (int j = 0; j < s; j++) {
        boolean visible = j <= at && (window <= 0 || j > at - window);
        mask[i * s + j] = visible ? 0f : MASKED;
      }
    }
    return Tensors.floats(manager, mask, new Shape(t, s));
  }

  /** A packed batch's mask ({@link Packed#mask}) in the activations' dtype. */
  protected NDArray packedMask(Packed packed, int rows, int t, int window) {
    return compute(packed.mask(manager, rows, t, window));
  }

  /**
   * Scaled dot-product attention, softmax(q·kᵀ·s + mask)·v, by the engine's fused kernel ({@link
   * Kernels#attention}): no [B, H, T, S] scores or probabilities are kept for the backward pass.
   *
   * @param q [B, H, T, hd]
   * @param k [B, H, S, hd] (S = T, or more with cached positions)
   * @param v [B, H, S, hd]
   * @param mask from {@link #causalMask(int, int, int)} or {@link #packedMask}
   * @param s the score scale (1 / sqrt(hd) unless the family says otherwise)
   * @return [B, T, H*hd]
   */
  protected NDArray attention(NDArray q, NDArray k, NDArray v, NDArray mask, float s) {
    long b = q.getShape().get(0);
    long h = q.getShape().get(1);
    long t = q.getShape().get(2);
    long hd = q.getShape().get(3);
    NDArray out = kernels.attention(q, k, v, mask, Tensors.scalar(manager, s)); // [B, H, T, hd]
    return out.transpose(0, 2, 1, 3).reshape(b, t, h * hd); // [B, T, H*hd]
  }

  /**
   * The tanh-approximated GELU, 0.5·x·(1 + tanh(sqrt(2/pi)·(x + 0.044715·x³))): GPT-2's {@code
   * gelu_new}, Gemma's {@code gelu_pytorch_tanh}; one fused op.
   */
  protected NDArray geluTanh(NDArray x) {
    return kernels.geluTanh(x);
  }
}
