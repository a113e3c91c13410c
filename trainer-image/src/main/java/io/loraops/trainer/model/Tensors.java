package io.loraops.trainer.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

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

  /**
   * A 0-d float32 tensor in engine memory, safe to keep in the autograd graph. It lives in host
   * memory whatever the manager's device: libtorch takes a 0-d CPU tensor as a scalar in an op with
   * tensors of any device, and making it there costs nothing, where a copy to the GPU waits for
   * every kernel queued before it (a few hundred such waits a step, one per LoRA layer, norm,
   * attention scale, left the GPU idle half of each step).
   */
  public static NDArray scalar(NDManager m, float value) {
    ByteBuffer data = ByteBuffer.allocateDirect(Float.BYTES).order(ByteOrder.nativeOrder());
    data.putFloat(0, value);
    return owned(
        JniUtils.createNdFromByteBuffer(
            (PtNDManager) m,
            data,
            new Shape(),
            DataType.FLOAT32,
            SparseFormat.DENSE,
            Device.cpu()));
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
