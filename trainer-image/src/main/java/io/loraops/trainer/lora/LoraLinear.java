package io.loraops.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.loraops.trainer.model.Kernels;
import io.loraops.trainer.model.Tensors;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * A linear layer with an optional LoRA adapter: {@code y = W0·x + b + scale·B(A(dropout(x)))}.
 *
 * <pre>
 *                    x [B, T, in]
 *          .---------------+----------------.
 *          |                                | dropout(p), training only
 *   W0 [out, in], b [out]            A [r, in]     Kaiming-uniform(a=sqrt 5), as PEFT
 *   frozen                                 | [B, T, r]
 *          |                         B [out, r]    zeros, so step 0 = base model
 *          |                                | [B, T, out] x scale
 *          '---------------(+)--------------'
 *                    y [B, T, out]
 *
 *   scale = alpha / r   (LoRA, Hu et al. 2021, section 4.1)
 *         = alpha / sqrt(r)   (rsLoRA, Kalajdzievski 2023)
 *   merge:   W <- W0 + scale·B·A      unmerge: W <- W0 (kept, so bit-exact)
 * </pre>
 *
 * <p>Weights are kept in PyTorch's {@code nn.Linear} layout {@code [out, in]}; GPT-2's {@code
 * Conv1D} weights ({@code [in, out]}) are handed in transposed, which is why PEFT marks them {@code
 * fan_in_fan_out}. A and B have the same shapes in both cases, as in PEFT's files.
 *
 * <p>Besides the one trainable adapter, a layer can hold any number of <em>named</em> adapters for
 * inference (the {@code serve} command: several adapters side by side on one frozen base, chosen
 * per request, as vLLM's multi-LoRA serving). They are never merged; {@link #activate} picks the
 * one {@link #forward} applies.
 */
public final class LoraLinear {
  private final String path;
  private final NDArray weight; // W0 [out, in], frozen, never written
  private NDArray mergedWeight; // W0 + scale·B·A [out, in] while merged, else null
  private final NDArray bias; // [out] or null, frozen
  private final UnaryOperator<NDArray>
      compute; // A and B -> the activations' dtype (mixed precision)
  private final Kernels kernels; // the fused update; null for a layer that only merges
  private NDArray loraA; // [r, in], trainable
  private NDArray loraB; // [out, r], trainable
  private float scale;
  private float dropout;
  private boolean merged;
  private final Map<String, Factors> named = new ConcurrentHashMap<>(); // inference adapters
  private Factors active; // the named adapter forward applies, or null

  /**
   * One named inference adapter's factors, without gradients.
   *
   * @param a A [r, in]
   * @param b B [out, r]
   * @param scale alpha / r (or alpha / sqrt(r))
   */
  public record Factors(NDArray a, NDArray b, float scale) {}

  /**
   * @param path the Hugging Face module path, e.g. {@code model.layers.0.self_attn.q_proj}
   * @param weight W0 {@code [out, in]}
   * @param bias {@code [out]} or null
   * @param compute casts the float32 A and B to the dtype of W0 and the activations, with the
   *     gradient flowing back (the identity in fp32): in bf16 the adapter's matmuls run in bf16, as
   *     under autocast, while A, B, their gradients and the optimizer state stay float32
   * @param kernels adds the adapter's update to the base output ({@link Kernels#loraAdd}); null for
   *     a layer that is only merged, never run
   */
  public LoraLinear(
      String path, NDArray weight, NDArray bias, UnaryOperator<NDArray> compute, Kernels kernels) {
    this.path = path;
    this.weight = weight;
    this.bias = bias;
    this.compute = compute;
    this.kernels = kernels;
  }

  /** The module path, as in the adapter keys {@code base_model.model.<path>.lora_A.weight}. */
  public String path() {
    return path;
  }

  /** The last path segment, which target_modules match ({@code q_proj}, {@code c_attn}). */
  public String shortName() {
    return path.substring(path.lastIndexOf('.') + 1);
  }

  public long inFeatures() {
    return weight.getShape().get(1);
  }

  public long outFeatures() {
    return weight.getShape().get(0);
  }

  /**
   * Adds a fresh adapter: A Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in))
   * exactly as PEFT's {@code reset_lora_parameters}, drawn from {@code random} so a seed fixes it
   * on every engine; B zeros, so the adapted layer starts equal to the base layer.
   */
  public void addAdapter(
      int rank, double alpha, boolean rsLora, double dropout, SplittableRandom random) {
    NDManager m = weight.getManager();
    long in = inFeatures();
    float[] a = new float[Math.toIntExact(rank * in)];
    double bound = 1.0 / Math.sqrt(in);
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
    }
    setAdapter(
        Tensors.floats(m, a, new Shape(rank, in)), // A [r, in]
        m.zeros(new Shape(outFeatures(), rank)), // B [out, r]
        scaleFor(rank, alpha, rsLora),
        dropout);
  }

  /** Installs given A [r, in] and B [out, r] (read from a file); they become trainable. */
  public void setAdapter(NDArray a, NDArray b, float scale, double dropout) {
    if (merged) {
      throw new IllegalStateException(path + ": unmerge before replacing the adapter");
    }
    String problem = shapeProblem(a, b);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    this.loraA = a;
    this.loraB = b;
    loraA.setRequiresGradient(true);
    loraB.setRequiresGradient(true);
    this.scale = scale;
    this.dropout = (float) dropout;
  }

  /** What is wrong with A and B as factors of this layer, or null if they fit. */
  public String shapeProblem(NDArray a, NDArray b) {
    if (a.getShape().dimension() != 2 || a.getShape().get(1) != inFeatures()) {
      return path + ": lora_A must be [r, " + inFeatures() + "], got " + a.getShape();
    }
    long r = a.getShape().get(0);
    if (!b.getShape().equals(new Shape(outFeatures(), r))) {
      return path + ": lora_B must be [" + outFeatures() + ", " + r + "], got " + b.getShape();
    }
    return null;
  }

  /**
   * Holds {@code factors} under {@code name} for inference, replacing (and returning) any held
   * before; the caller owns both and closes the old ones once no forward pass can read them.
   */
  public Factors putNamed(String name, Factors factors) {
    String problem = shapeProblem(factors.a(), factors.b());
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    return named.put(name, factors);
  }

  /** Drops the named adapter {@code name}; returns its factors, or null if none was held. */
  public Factors removeNamed(String name) {
    return named.remove(name);
  }

  /**
   * Makes {@link #forward} apply the named adapter {@code name} (null, or a name this layer does
   * not hold, means none: the layer is then the frozen base plus any trainable adapter). Not thread
   * safe: callers serialize forward passes.
   */
  public void activate(String name) {
    this.active = name == null ? null : named.get(name);
  }

  /** alpha / r, or alpha / sqrt(r) with rsLoRA. */
  public static float scaleFor(int rank, double alpha, boolean rsLora) {
    return (float) (rsLora ? alpha / Math.sqrt(rank) : alpha / rank);
  }

  public boolean hasAdapter() {
    return loraA != null;
  }

  /** The weight forward applies, [out, in]: W0, or W0 + scale·B·A while merged. */
  public NDArray weight() {
    return merged ? mergedWeight : weight;
  }

  public NDArray bias() {
    return bias;
  }

  public NDArray loraA() {
    return loraA;
  }

  public NDArray loraB() {
    return loraB;
  }

  public float scale() {
    return scale;
  }

  public boolean merged() {
    return merged;
  }

  /**
   * x [..., in] -> [..., out]. The rows are flattened to [N, in] so that the adapter's update is
   * added into the base output in place ({@link Kernels#loraAdd}).
   */
  public NDArray forward(NDArray x, boolean training) {
    Shape shape = x.getShape();
    NDArray rows = x.reshape(-1, shape.get(shape.dimension() - 1)); // [N, in]
    NDArray y =
        rows.getNDArrayInternal().linear(rows, weight(), bias).singletonOrThrow(); // [N, out]
    if (active != null) { // inference, no dropout
      y = kernels.loraAdd(y, rows, active.a(), active.b(), scalar(x, active.scale()));
    }
    if (loraA != null && !merged) {
      NDArray h = rows;
      if (training && dropout > 0) {
        h = rows.getNDArrayInternal().dropout(rows, dropout, true).singletonOrThrow(); // [N, in]
      }
      y = kernels.loraAdd(y, h, compute.apply(loraA), compute.apply(loraB), scalar(x, scale));
    }
    return y.reshape(shape.slice(0, shape.dimension() - 1).add(outFeatures())); // [..., out]
  }

  /** A 0-d host tensor: the kernel takes it as a value (op(Number) is unsafe in a graph). */
  private static NDArray scalar(NDArray like, float value) {
    return Tensors.scalar(like.getManager(), value);
  }

  /** scale·B·A [out, in], the weight update the adapter stands for. */
  public NDArray delta() {
    try (NDArray ba = loraB.matMul(loraA)) { // [out, r] x [r, in] -> [out, in]
      return ba.mul(scale);
    }
  }

  /**
   * W <- W0 + scale·B·A, so inference needs no extra matmuls. The sum is a new tensor and W0 is
   * kept untouched: subtracting scale·B·A again would restore W0 only up to float rounding (in fp32
   * {@code (w + d) - d != w} for many w), while keeping it makes {@link #unmerge} bit-exact, for
   * twice the adapted layers' weight memory while merged. The update is computed in float32 (A, B
   * are float32) and cast once to W0's dtype by {@code compute}: with bf16 weights the sum is bf16
   * + bf16(scale·B·A), as PEFT merges a bf16 layer.
   */
  public void merge() {
    if (loraA == null || merged) {
      return;
    }
    try (NDArray d = delta()) { // [out, in]
      NDArray cast = compute.apply(d); // d itself in fp32
      mergedWeight = weight.add(cast);
      if (cast != d) {
        cast.close();
      }
    }
    merged = true;
  }

  /** W <- W0: the original weight, bit for bit (see {@link #merge}). */
  public void unmerge() {
    if (!merged) {
      return;
    }
    merged = false;
    mergedWeight.close();
    mergedWeight = null;
  }
}
