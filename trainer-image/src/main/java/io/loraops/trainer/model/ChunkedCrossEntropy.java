package io.loraops.trainer.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
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
   * @param kernels casts and the float32 sum
   * @param dtype of {@code hidden} and {@code head}: in mixed precision (BFLOAT16 or FLOAT16) the
   *     logits go to float32 for the log-softmax, and (p - onehot) back to {@code dtype} for the
   *     matmul with the head, so G is in {@code dtype}
   * @return float32 scalar: the sum of -log p(target); its gradient reaches {@code hidden}
   */
  static NDArray lossSum(
      NDArray hidden,
      NDArray head,
      long[] targets,
      int chunk,
      boolean training,
      Kernels kernels,
      DataType dtype) {
    NDManager manager = hidden.getManager();
    NDArray h = hidden.stopGradient(); // [N, D], outside the graph
    boolean mixed = dtype != DataType.FLOAT32;
    int vocab = (int) head.getShape().get(0);
    // The loss stays on the device until the caller reads it: reading it per chunk would make the
    // host wait for the GPU once per chunk.
    NDArray loss = manager.zeros(new Shape()); // float32
    NDArray allTargets = Tensors.longs(manager, targets, new Shape(targets.length)); // one copy
    List<NDArray> gradients = new ArrayList<>();
    for (int from = 0; from < targets.length; from += chunk) {
      int to = Math.min(targets.length, from + chunk);
      NDArray rows = h.get(new NDIndex(from + ":" + to)); // [C, D]
      NDArray logits = rows.getNDArrayInternal().linear(rows, head, null).singletonOrThrow();
      NDArray logits32 = mixed ? kernels.cast(logits, DataType.FLOAT32) : logits;
      NDArray logp = logits32.logSoftmax(-1); // [C, V], float32
      NDArray target = allTargets.get(new NDIndex(from + ":" + to));
      NDArray onehot = target.oneHot(vocab, DataType.FLOAT32); // [C, V]
      NDArray picked = logp.mul(onehot);
      NDArray chunkLoss = picked.sum();
      loss.subi(chunkLoss);
      if (training) {
        try (NDArray probs = logp.exp();
            NDArray delta = probs.sub(onehot)) {
          NDArray d = mixed ? kernels.cast(delta, dtype) : delta; // head's dtype
          gradients.add(d.matMul(head)); // [C, D]
          d.close();
        }
      }
      // Freed now rather than with the step's scope: never more than one chunk of [C, V] alive.
      for (NDArray a : List.of(rows, logits, logits32, logp, target, onehot, picked, chunkLoss)) {
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
