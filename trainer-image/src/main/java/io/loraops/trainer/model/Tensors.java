package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Creates tensors whose memory the engine owns.
 *
 * <p>DJL's PyTorch engine wraps Java direct buffers without copying ({@code from_blob}) and lets go
 * of the buffer when the Java array is closed, even if a view or the autograd graph still points at
 * it; measured here as sporadic NaN gradients. Cloning right away gives the engine its own,
 * reference-counted storage.
 */
public final class Tensors {
  private Tensors() {}

  public static NDArray floats(NDManager m, float[] data, Shape shape) {
    return owned(m.create(data, shape));
  }

  /** A 0-d float32 tensor in engine memory, safe to keep in the autograd graph. */
  public static NDArray scalar(NDManager m, float value) {
    return owned(m.create(value));
  }

  public static NDArray longs(NDManager m, long[] data, Shape shape) {
    return owned(m.create(data, shape));
  }

  /** Replaces a buffer-backed array by an engine-owned clone. */
  public static NDArray owned(NDArray bufferBacked) {
    NDArray copy = bufferBacked.duplicate();
    bufferBacked.close();
    return copy;
  }
}
