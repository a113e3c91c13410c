package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * The few libtorch operations DJL 0.35.1's NDArray API lacks, run as methods of a small TorchScript
 * module (autograd records them like any other op):
 *
 * <ul>
 *   <li>SiLU and the tanh GELU as single ops;
 *   <li>{@code torch.nn.functional.scaled_dot_product_attention}: the fused attention of libtorch
 *       (its flash kernel on CPU, flash or memory-efficient on CUDA), which keeps only the output
 *       and the log-sum-exp of each query for the backward pass, never the [B, H, T, S] scores or
 *       probabilities of the eager formula;
 *   <li>casts to and from bfloat16 and float16 that autograd sees: DJL's {@code toType} runs under
 *       {@code NoGradGuard} (the gradient stops there), and its JNI has no bfloat16 code at all
 *       ({@code toType(BFLOAT16)} aborts the JVM), so half-precision tensors are made and read only
 *       through here;
 *   <li>ops that do in one pass over memory what DJL's ops take several for: a LoRA layer's update
 *       added into the base output by one matmul's epilogue, RMSNorm, and a cross-entropy chunk
 *       with a gathered target (on a GPU a training step is mostly memory passes: at Llama 3.2 1B's
 *       shape the matmuls were a third of an H100 step's kernel time);
 *   <li>a sum of a half-precision tensor as float32 ({@code torch.sum(x, dtype=torch.float32)}): a
 *       float16 sum of a large tensor overflows its 65,504 range, and the float32 copy a cast first
 *       would make is not needed;
 *   <li>the optimizer step over every LoRA matrix at once with libtorch's multi-tensor {@code
 *       _foreach} ops (as {@code torch.optim.AdamW(foreach=True)}): a dozen kernels a step where
 *       one op per matrix made about 4,000, each a call through JNI that a GPU waits for.
 * </ul>
 *
 * <p>The module is built here from its TorchScript source, as {@code torch.jit.save} writes it
 * (torch 2.7.1, the libtorch DJL runs), so no binary file is shipped. A bf16 tensor reports {@link
 * DataType#UNKNOWN} in DJL: ops that pass a dtype to the engine (softmax, duplicate, toType) must
 * not see one; elementwise ops, linear, matMul, reshape and indexing work.
 */
public final class Kernels implements AutoCloseable {
  /** The TorchScript of the module (the form {@code torch.jit.save} writes into code/). */
  static final String SOURCE =
      """
      class Kernels(Module):
        __parameters__ = []
        __buffers__ = []
        training : bool
        def forward(self: __torch__.Kernels,
          q: Tensor,
          k: Tensor,
          v: Tensor,
          mask: Tensor,
          scale: Tensor) -> Tensor:
          _0 = torch.scaled_dot_product_attention(q, k, v, mask, 0., False, scale=float(scale))
          return _0
        def causal(self: __torch__.Kernels,
          q: Tensor,
          k: Tensor,
          v: Tensor,
          scale: Tensor) -> Tensor:
          _1 = torch.scaled_dot_product_attention(q, k, v, None, 0., True, scale=float(scale))
          return _1
        def silu(self: __torch__.Kernels,
          x: Tensor) -> Tensor:
          return torch.silu(x)
        def gelu_tanh(self: __torch__.Kernels,
          x: Tensor) -> Tensor:
          return torch.gelu(x, approximate="tanh")
        def to_bf16(self: __torch__.Kernels,
          x: Tensor) -> Tensor:
          return torch.to(x, 15)
        def to_fp16(self: __torch__.Kernels,
          x: Tensor) -> Tensor:
          return torch.to(x, 5)
        def to_fp32(self: __torch__.Kernels,
          x: Tensor) -> Tensor:
          return torch.to(x, 6)
        def sum_fp32(self: __torch__.Kernels,
          x: Tensor) -> Tensor:
          return torch.sum(x, dtype=6)
        def lora_add(self: __torch__.Kernels,
          y: Tensor,
          x: Tensor,
          a: Tensor,
          b: Tensor,
          scale: Tensor) -> Tensor:
          down = torch.linear(x, a)
          return torch.addmm_(y, down, torch.t(b), beta=1, alpha=float(scale))
        def rms_norm(self: __torch__.Kernels,
          x: Tensor,
          w: Tensor,
          eps: Tensor) -> Tensor:
          _3 = torch.rms_norm(torch.to(x, 6), [torch.size(x, -1)], w, float(eps))
          return _3
        def ce_loss(self: __torch__.Kernels,
          logits: Tensor,
          target: Tensor) -> Tensor:
          logp = torch.log_softmax(logits, -1, 6)
          picked = torch.gather(logp, 1, torch.unsqueeze(target, 1))
          return torch.neg(torch.sum(picked))
        def ce_loss_and_delta(self: __torch__.Kernels,
          logits: Tensor,
          target: Tensor) -> Tuple[Tensor, Tensor]:
          logp = torch.log_softmax(logits, -1, 6)
          index = torch.unsqueeze(target, 1)
          picked = torch.gather(logp, 1, index)
          probs = torch.exp(logp)
          _2 = torch.scatter_add_(probs, 1, index, torch.full_like(picked, -1.))
          delta = torch.to(probs, ops.prim.dtype(logits))
          return (torch.neg(torch.sum(picked)), delta)
        def grad_norm(self: __torch__.Kernels,
          grads: List[Tensor]) -> float:
          norms = torch._foreach_norm(grads, 2)
          total = torch.sum(torch.square(torch.to(torch.stack(norms), 7)))
          return float(torch.sqrt(total))
        def adamw(self: __torch__.Kernels,
          params: List[Tensor],
          grads: List[Tensor],
          exp_avgs: List[Tensor],
          exp_avg_sqs: List[Tensor],
          clip: float,
          decay: float,
          step_size: float,
          beta1: float,
          beta2: float,
          bias_correction2_sqrt: float,
          eps: float) -> float:
          if clip != 1.:
            torch._foreach_mul_(grads, clip)
          else:
            pass
          if decay < 1.:
            torch._foreach_mul_(params, decay)
          else:
            pass
          torch._foreach_mul_(exp_avgs, beta1)
          torch._foreach_add_(exp_avgs, torch._foreach_mul(grads, 1. - beta1))
          torch._foreach_mul_(exp_avg_sqs, beta2)
          squares = torch._foreach_mul(grads, grads)
          torch._foreach_add_(exp_avg_sqs, torch._foreach_mul(squares, 1. - beta2))
          denom = torch._foreach_sqrt(exp_avg_sqs)
          torch._foreach_div_(denom, bias_correction2_sqrt)
          torch._foreach_add_(denom, eps)
          updates = torch._foreach_div(exp_avgs, denom)
          torch._foreach_mul_(updates, step_size)
          torch._foreach_sub_(params, updates)
          torch._foreach_zero_(grads)
          return 0.
      """;

  private final NDManager manager;
  private final PtSymbolBlock module;
  private final Map<String, NDArray> selectors = new ConcurrentHashMap<>();

  private Kernels(NDManager manager, PtSymbolBlock module) {
    this.manager = manager;
    this.module = module;
  }

  /** Loads the module onto {@code manager}'s device; it lives until {@link #close()}. */
  public static Kernels load(NDManager manager) {
    try {
      PtSymbolBlock block =
          JniUtils.loadModule(
              (PtNDManager) manager, new ByteArrayInputStream(archive()), false, false);
      return new Kernels(manager, block);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Attention softmax(q·kᵀ·scale + mask)·v, fused.
   *
   * @param q [B, H, T, hd]
   * @param k [B, H, S, hd]
   * @param v [B, H, S, hd]
   * @param mask additive, broadcastable to [B, H, T, S], of q's dtype; null: causal with T = S
   * @return [B, H, T, hd]
   */
  public NDArray attention(NDArray q, NDArray k, NDArray v, NDArray mask, NDArray scale) {
    return mask == null ? call("causal", q, k, v, scale) : call("forward", q, k, v, mask, scale);
  }

  /**
   * SiLU, x·sigmoid(x), in one op: DJL has only sigmoid and mul, which keep both sigmoid(x) and x
   * for backward and take two passes over the tensor.
   */
  public NDArray silu(NDArray x) {
    return call("silu", x);
  }

  /**
   * The tanh-approximated GELU, 0.5·x·(1 + tanh(sqrt(2/pi)·(x + 0.044715·x³))), in one op (GPT-2's
   * {@code gelu_new}, Gemma's {@code gelu_pytorch_tanh}; written out it keeps five intermediates of
   * x's size for backward).
   */
  public NDArray geluTanh(NDArray x) {
    return call("gelu_tanh", x);
  }

  /** {@code x} as {@code type} (FLOAT32, BFLOAT16 or FLOAT16), with the gradient flowing back. */
  public NDArray cast(NDArray x, DataType type) {
    return switch (type) {
      case FLOAT32 -> x.getDataType() == DataType.FLOAT32 ? x : call("to_fp32", x);
      case BFLOAT16 -> call("to_bf16", x);
      case FLOAT16 -> x.getDataType() == DataType.FLOAT16 ? x : call("to_fp16", x);
      default -> throw new IllegalArgumentException("no cast to " + type);
    };
  }

  /**
   * {@code y += scale · (x·Aᵀ)·Bᵀ} in place, a LoRA layer's update added to its base output: the
   * scale and the sum are the epilogue of one matmul (the GEMM's alpha and beta), where the eager
   * formula (PEFT's too) writes and reads the [N, out] update three more times (the up-projection,
   * its scaling, the sum), and in backward scales the [N, out] gradient again.
   *
   * @param y [N, out] the base layer's output, not needed by its own backward
   * @param x [N, in]
   * @param a A [r, in]
   * @param b B [out, r]
   * @param scale 0-d
   * @return y
   */
  public NDArray loraAdd(NDArray y, NDArray x, NDArray a, NDArray b, NDArray scale) {
    return call("lora_add", y, x, a, b, scale);
  }

  /**
   * {@code x · rsqrt(mean(x²) + eps) · w} over the last axis, computed in float32 and returned in
   * float32, by libtorch's {@code rms_norm} (fused on GPUs where libtorch has the kernel): written
   * out it is eight passes over x forward and more backward.
   */
  public NDArray rmsNorm(NDArray x, NDArray w, NDArray eps) {
    return call("rms_norm", x, w, eps);
  }

  /**
   * One chunk of the cross-entropy, outside autograd: the sum over rows of -log
   * softmax(logits)[row, target] (float32, 0-d), and with {@code withDelta} also the loss's
   * gradient with respect to the logits, softmax - onehot(target), in the logits' dtype. The
   * log-softmax runs in float32 from logits of any dtype without a float32 copy first, and the
   * target is gathered, not multiplied by a [C, V] one-hot: three passes over the chunk's [C, V]
   * where the one-hot formula took about ten.
   *
   * @param logits [C, V]
   * @param target C int64 ids
   * @return the loss sum, then the gradient if {@code withDelta}
   */
  public NDList crossEntropy(NDArray logits, NDArray target, boolean withDelta) {
    if (!withDelta) {
      return new NDList(call("ce_loss", logits, target));
    }
    return callAll("ce_loss_and_delta", logits, target);
  }

  /** The sum of every element of {@code x}, accumulated and returned as float32 (0-d). */
  public NDArray sumFloat32(NDArray x) {
    return call("sum_fp32", x);
  }

  /**
   * The global L2 norm of {@code grads} (as {@code torch.nn.utils.clip_grad_norm_} computes it),
   * read back once.
   */
  public double gradNorm(List<NDArray> grads) {
    return run("grad_norm", IValue.listFrom(pt(grads)));
  }

  /**
   * One AdamW step over parameters that share a learning rate, in {@code torch.optim.AdamW}'s
   * order: the gradients scaled by {@code clip} (the global-norm clipping coefficient times the
   * loss scale's inverse, see {@code LossScale}; 1: none), decoupled decay {@code p *= decay} (1:
   * none), the moments, then {@code p -= stepSize · m / (sqrt(v) / biasCorrection2Sqrt + eps)}; the
   * gradients are zeroed. Runs without autograd and never waits for the GPU.
   */
  public void adamw(
      List<NDArray> params,
      List<NDArray> grads,
      List<NDArray> expAvgs,
      List<NDArray> expAvgSqs,
      double clip,
      double decay,
      double stepSize,
      double beta1,
      double beta2,
      double biasCorrection2Sqrt,
      double eps) {
    run(
        "adamw",
        IValue.listFrom(pt(params)),
        IValue.listFrom(pt(grads)),
        IValue.listFrom(pt(expAvgs)),
        IValue.listFrom(pt(expAvgSqs)),
        IValue.from(clip),
        IValue.from(decay),
        IValue.from(stepSize),
        IValue.from(beta1),
        IValue.from(beta2),
        IValue.from(biasCorrection2Sqrt),
        IValue.from(eps));
  }

  /** Runs a method that returns a float, outside autograd, and frees its arguments. */
  private double run(String method, IValue... args) {
    try (IValue out = IValueUtils.runMethod(module, method, args)) {
      return out.toDouble();
    } finally {
      for (IValue a : args) {
        a.close();
      }
    }
  }

  private static PtNDArray[] pt(List<NDArray> arrays) {
    return arrays.stream().map(a -> (PtNDArray) a).toArray(PtNDArray[]::new);
  }

  private NDArray call(String method, NDArray... inputs) {
    return callAll(method, inputs).singletonOrThrow();
  }

  private NDList callAll(String method, NDArray... inputs) {
    NDList in = new NDList(inputs.length + 1);
    for (NDArray a : inputs) {
      in.add(a);
    }
    if (!method.equals("forward")) {
      in.add(selector(method));
    }
    return IValueUtils.forward(module, in, true);
  }

  /**
   * The array whose name tells DJL which method to run, one per method, kept until {@link
   * #close()}. DJL reads only its name, so it is a 0-d host tensor: one made on the model's device
   * for every call cost a GPU allocation and a kernel per cast, SiLU or attention.
   */
  private NDArray selector(String method) {
    return selectors.computeIfAbsent(
        method,
        name -> {
          NDArray selector = Tensors.scalar(manager, 0f);
          NDScope.unregister(selector); // not the caller's to free
          selector.setName("module_method:" + name);
          return selector;
        });
  }

  @Override
  public void close() {
    selectors.values().forEach(NDArray::close);
    module.close();
  }

  /** The TorchScript archive (a zip of stored entries, as torch.jit.save writes it). */
  static byte[] archive() throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
      // file format 10: gelu's approximate argument (older versions load it as gelu without one)
      stored(zip, "kernels/.data/version", "10\n".getBytes(StandardCharsets.US_ASCII));
      stored(zip, "kernels/code/__torch__.py", SOURCE.getBytes(StandardCharsets.UTF_8));
      stored(zip, "kernels/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'}); // ()
      stored(zip, "kernels/data.pkl", dataPickle());
    }
    return bytes.toByteArray();
  }

  /** The module object: {@code __torch__.Kernels} with state {'training': True} (pickle v2). */
  private static byte[] dataPickle() {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.write(0x80); // PROTO 2
    p.write(2);
    p.writeBytes("c__torch__\nKernels\n".getBytes(StandardCharsets.US_ASCII)); // GLOBAL
    p.write(')'); // EMPTY_TUPLE
    p.write(0x81); // NEWOBJ
    p.write('}'); // EMPTY_DICT
    byte[] key = "training".getBytes(StandardCharsets.US_ASCII);
    p.write('X'); // BINUNICODE, 4-byte little-endian length
    p.writeBytes(new byte[] {(byte) key.length, 0, 0, 0});
    p.writeBytes(key);
    p.write(0x88); // NEWTRUE
    p.write('s'); // SETITEM
    p.write('b'); // BUILD
    p.write('.'); // STOP
    return p.toByteArray();
  }

  private static void stored(ZipOutputStream zip, String name, byte[] data) throws IOException {
    ZipEntry e = new ZipEntry(name);
    e.setMethod(ZipEntry.STORED);
    e.setSize(data.length);
    CRC32 crc = new CRC32();
    crc.update(data);
    e.setCrc(crc.getValue());
    zip.putNextEntry(e);
    zip.write(data);
    zip.closeEntry();
  }
}
