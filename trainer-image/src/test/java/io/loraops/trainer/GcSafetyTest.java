package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.loraops.trainer.lora.LoraInjector;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.Tensors;
import io.loraops.trainer.train.Losses;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Gradients do not depend on when the JVM collects garbage. With DJL, a constant passed as a Java
 * number ({@code x.mul(0.5f)}) lives in a buffer that a GC may free while the autograd graph still
 * reads it; this test runs a GC and scribbles NaN over freed native memory between the forward and
 * the backward pass, and expects the very same gradients as without.
 */
class GcSafetyTest {

  private static List<float[]> gradients(
      CausalLM model, List<LoraLinear> layers, boolean gcInBetween) throws Exception {
    NDManager m = model.manager();
    List<float[]> out = new ArrayList<>();
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
        long[] ids = new long[2 * 12];
        long[] tg = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = 3 + (i * 11) % 150;
          tg[i] = 3 + (i * 11 + 11) % 150;
        }
        NDArray logits = model.forward(Tensors.longs(m, ids, new Shape(2, 12)), true);
        NDArray loss = Losses.nllSum(logits, Tensors.longs(m, tg, new Shape(2, 12)));
        if (gcInBetween) {
          for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(20);
          }
          // Reuse freed native memory: whatever still points there now reads NaN.
          List<ByteBuffer> scribble = new ArrayList<>();
          for (int i = 0; i < 200; i++) {
            ByteBuffer b = ByteBuffer.allocateDirect(64);
            while (b.hasRemaining()) {
              b.put((byte) 0xff);
            }
            scribble.add(b);
          }
        }
        gc.backward(loss);
      }
      out.addAll(Fixtures.takeGradients(layers));
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
  void gradientsAreTheSameWhenTheJvmCollectsGarbageMidStep(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(Fixtures.model(preset), m);
      List<LoraLinear> layers =
          LoraInjector.inject(model, new LoraSpec(4, 8, 0.0, List.of("all-linear"), false), 5);
      for (LoraLinear l : layers) {
        l.loraB().addi(0.01f); // B != 0 so every path of the adapter carries gradient
      }
      List<float[]> reference = gradients(model, layers, false);
      for (int round = 0; round < 3; round++) {
        List<float[]> again = gradients(model, layers, true);
        for (int i = 0; i < reference.size(); i++) {
          assertThat(again.get(i))
              .as("gradient %d, round %d", i, round)
              .containsExactly(reference.get(i));
        }
      }
    }
  }
}
