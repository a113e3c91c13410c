package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.loraops.trainer.model.SafeTensors;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The safetensors codec: F32 round trip with metadata and aligned header; BF16 and F16 reads and
 * writes.
 */
class SafeTensorsTest {
  @TempDir Path tmp;

  @Test
  void roundTripKeepsValuesShapesAndMetadata() throws Exception {
    Path f = tmp.resolve("a.safetensors");
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray a = m.create(new float[] {1.5f, -2f, 3.25f, 0f, 1e-8f, -0f}, new Shape(2, 3));
      NDArray b = m.create(new float[] {7f}, new Shape(1));
      SafeTensors.write(f, Map.of("w.a", a, "w.b", b), Map.of("format", "pt"));
      long headerLen =
          ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      assertThat(headerLen % 8).isZero();
      SafeTensors st = SafeTensors.open(f);
      assertThat(st.metadata()).containsEntry("format", "pt");
      assertThat(st.entries().keySet()).containsExactly("w.a", "w.b");
      NDArray back = st.load("w.a", m);
      assertThat(back.getShape()).isEqualTo(new Shape(2, 3));
      assertThat(back.toFloatArray()).containsExactly(a.toFloatArray());
      back.addi(1f); // the loaded tensor owns its memory (no read-only mapping underneath)
    }
  }

  @Test
  void readsBf16AndF16AsFloat32() throws Exception {
    Path f = tmp.resolve("h.safetensors");
    // 1.5 in bf16 = 0x3FC0; -2 in f16 = 0xC000; 65504 (f16 max) = 0x7BFF
    String header =
        "{\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},"
            + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[2,6]}}";
    byte[] hb = header.getBytes(StandardCharsets.UTF_8);
    try (OutputStream out = Files.newOutputStream(f)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hb.length).array());
      out.write(hb);
      out.write(
          ByteBuffer.allocate(6)
              .order(ByteOrder.LITTLE_ENDIAN)
              .putShort((short) 0x3FC0)
              .putShort((short) 0xC000)
              .putShort((short) 0x7BFF)
              .array());
    }
    try (NDManager m = NDManager.newBaseManager()) {
      SafeTensors st = SafeTensors.open(f);
      assertThat(st.load("b", m).toFloatArray()).containsExactly(1.5f);
      assertThat(st.load("h", m).toFloatArray()).containsExactly(-2f, 65504f);
    }
  }

  @Test
  void halfPrecisionWritesRoundToNearestEvenAsTorchDoes() throws Exception {
    float one = 1f;
    float tieDown = 1f + 0x1p-8f; // halfway between bf16 1 and 1 + 2^-7: the even one is 1
    float tieUp = 1f + 3 * 0x1p-8f; // halfway between 1 + 2^-7 and 1 + 2^-6: the even one is above
    float[] v = {one, tieDown, tieUp, -tieUp, Float.NaN, Float.POSITIVE_INFINITY, Float.MAX_VALUE};
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray a = m.create(v, new Shape(v.length));
      ByteBuffer bf16 = SafeTensors.encode(a, "BF16");
      float[] back = new float[v.length];
      for (int i = 0; i < v.length; i++) {
        back[i] = Float.intBitsToFloat((bf16.getShort(2 * i) & 0xffff) << 16);
      }
      assertThat(back[0]).isEqualTo(1f);
      assertThat(back[1]).isEqualTo(1f);
      assertThat(back[2]).isEqualTo(1f + 0x1p-6f);
      assertThat(back[3]).isEqualTo(-(1f + 0x1p-6f));
      assertThat(back[4]).isNaN();
      assertThat(back[5]).isEqualTo(Float.POSITIVE_INFINITY);
      assertThat(back[6]).isEqualTo(Float.POSITIVE_INFINITY); // overflows, as torch's cast does

      // F16 through the engine: 1 + 2^-11 is halfway between 1 and 1 + 2^-10, rounds to 1.
      NDArray h = m.create(new float[] {1f + 0x1p-11f, 65520f}, new Shape(2));
      ByteBuffer f16 = SafeTensors.encode(h, "F16");
      assertThat(f16.getShort(0)).isEqualTo((short) 0x3c00); // 1.0
      assertThat(f16.getShort(2)).isEqualTo((short) 0x7c00); // inf: 65520 rounds past 65504
    }
  }
}
