package io.loraops.trainer.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * The LM head and the next-token cross-entropy, summed, without ever holding [N, V] logits for the
 * backward pass (the fused linear cross-entropy of Liger-Kernel). Rows go through the head and the
 * log-softmax a chunk at a time, outside the autograd graph; each chunk gives its share of the loss
 * and of the loss's gradient with respect to the hidden states, G = (softmax(h W^T) -
 * onehot(target)) W, and its logits are freed before the next chunk. The graph holds only sum(h ⊙
 * G), whose gradient with respect to h is G, re-valued to the loss.
 *
 * <p>Correct because the head W is frozen: LoRA never adapts the LM head in this trainer, so no
 * gradient with respect to W is needed. Peak memory for the loss is one chunk's logits instead of
 * all of them twice (logits and log-probabilities kept for backward).
 */
final class ChunkedCrossEntropy {
  private ChunkedCrossEntropy() {}

  /**
   * Logit values computed at once on a CPU: 8 Mi floats (32 MiB in fp32, about a cache's worth).
   */
  static final int CHUNK_LOGITS = 8 << 20;

  /**
   * On a GPU: 64 Mi floats (256 MiB per [C, V] float32 array, a few alive at once). A chunk must be
   * many rows for the head's matmul to fill the GPU (at Llama 3's 128K vocabulary the CPU's chunk
   * is 65 rows), and each chunk costs a dozen kernel launches.
   */
  static final int GPU_CHUNK_LOGITS = 64 << 20;

  /** Rows per chunk for a vocabulary of {@code vocab} on {@code device}. */
  static int rowsPerChunk(long vocab, Device device) {
    return (int) Math.max(1, (device.isGpu() ? GPU_CHUNK_LOGITS : CHUNK_LOGITS) / vocab);
  }

  /**
   * @param hidden [N, D] final hidden states of the positions that have a target (in the graph)
   * @param head [V, D] the frozen output projection
   * @param targets N next-token ids
   * @param chunk rows per chunk
   * @param training whether a backward pass follows (else G is not computed)
   * @param kernels each chunk's loss and gradient ({@link Kernels#crossEntropy}) and the float32
   *     sum; in mixed precision (bfloat16 or float16 hidden states and head) the log-softmax is in
   *     float32 and (p - onehot) in the head's dtype for the matmul with it, so G is in that dtype
   * @return float32 scalar: the sum of -log p(target); its gradient reaches {@code hidden}
   */
  static NDArray lossSum(
      NDArray hidden, NDArray head, long[] targets, int chunk, boolean training, Kernels kernels) {
    NDManager manager = hidden.getManager();
    NDArray h = hidden.stopGradient(); // [N, D], outside the graph
    // The loss stays on the device until the caller reads it: reading it per chunk would make the
    // host wait for the GPU once per chunk.
    NDArray loss = manager.zeros(new Shape()); // float32
    NDArray allTargets = Tensors.longs(manager, targets, new Shape(targets.length)); // one copy
    List<NDArray> gradients = new ArrayList<>();
    for (int from = 0; from < targets.length; from += chunk) {
      int to = Math.min(targets.length, from + chunk);
      NDArray rows = h.get(new NDIndex(from + ":" + to)); // [C, D]
      NDArray logits = rows.getNDArrayInternal().linear(rows, head, null).singletonOrThrow();
      NDArray target = allTargets.get(new NDIndex(from + ":" + to));
      // the loss sum, and (p - onehot) in the head's dtype: log-softmax in float32 either way
      NDList out = kernels.crossEntropy(logits, target, training);
      loss.addi(out.get(0));
      if (training) {
        gradients.add(out.get(1).matMul(head)); // [C, D]
      }
      // Freed now rather than with the step's scope: never more than one chunk of [C, V] alive.
      out.close();
      for (NDArray a : List.of(rows, logits, target)) {
        a.close();
      }
    }
    allTargets.close();
    if (!training) {
      return loss;
    }
    NDArray g =
        gradients.size() == 1 ? gradients.get(0) : NDArrays.concat(new NDList(gradients), 0);
    // gradient with respect to hidden: g; summed as float32, where a float16 sum would overflow
    // and make the zero below inf - inf
    NDArray surrogate = kernels.sumFloat32(hidden.mul(g));
    NDArray zero = surrogate.sub(surrogate.stopGradient()); // 0, with the gradient
    return zero.add(loss);
  }
}
