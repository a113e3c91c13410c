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

/** The safetensors codec: F32 round trip with metadata and aligned header; BF16 and F16 reads. */
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
}
