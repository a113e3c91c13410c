package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reader and writer of the safetensors format (https://github.com/huggingface/safetensors).
 *
 * <p>Layout: 8-byte little-endian header length N, N bytes of JSON header ({@code name -> {dtype,
 * shape, data_offsets}} plus optional {@code __metadata__}), then the raw little-endian data. DJL's
 * own codec uses int offsets (2 GiB per file), reads the whole file through the heap and drops
 * {@code __metadata__}; this one uses long offsets, memory-maps the file and keeps the metadata
 * that PEFT expects ({@code {"format":"pt"}}).
 *
 * <p>Everything is loaded as float32: F32 as is, BF16 and F16 widened exactly.
 */
public final class SafeTensors {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One tensor's entry in a file's header. */
  public record Entry(String dtype, long[] shape, long begin, long end) {}

  private final Path file;
  private final Map<String, Entry> entries;
  private final Map<String, String> metadata;
  private final long dataStart;

  private SafeTensors(
      Path file, Map<String, Entry> entries, Map<String, String> metadata, long dataStart) {
    this.file = file;
    this.entries = entries;
    this.metadata = metadata;
    this.dataStart = dataStart;
  }

  /** Reads the header of a file; tensors are read on demand by {@link #load}. */
  public static SafeTensors open(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, len, 0);
      long headerLen = len.getLong(0);
      if (headerLen <= 0 || headerLen > 100_000_000L || 8 + headerLen > ch.size()) {
        throw new IOException(file + ": not a safetensors file (header length " + headerLen + ")");
      }
      ByteBuffer header = ByteBuffer.allocate((int) headerLen);
      readFully(ch, header, 8);
      JsonNode root = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
      Map<String, Entry> entries = new LinkedHashMap<>();
      Map<String, String> metadata = new TreeMap<>();
      long dataSize = ch.size() - 8 - headerLen;
      for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> f = it.next();
        if (f.getKey().equals("__metadata__")) {
          f.getValue()
              .fields()
              .forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
          continue;
        }
        JsonNode n = f.getValue();
        long[] shape = new long[n.get("shape").size()];
        for (int i = 0; i < shape.length; i++) {
          shape[i] = n.get("shape").get(i).asLong();
        }
        long begin = n.get("data_offsets").get(0).asLong();
        long end = n.get("data_offsets").get(1).asLong();
        String dtype = n.get("dtype").asText();
        long expected = new Shape(shape).size() * bytesPer(dtype, f.getKey(), file);
        if (end - begin != expected || end > dataSize || begin < 0) {
          throw new IOException(
              file + ": tensor " + f.getKey() + " has inconsistent offsets for its shape");
        }
        entries.put(f.getKey(), new Entry(dtype, shape, begin, end));
      }
      return new SafeTensors(file, entries, metadata, 8 + headerLen);
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos + buf.position());
      if (n < 0) {
        throw new IOException("unexpected end of file");
      }
    }
  }

  private static int bytesPer(String dtype, String name, Path file) throws IOException {
    return switch (dtype) {
      case "F32" -> 4;
      case "BF16", "F16" -> 2;
      default ->
          throw new IOException(
              file + ": tensor " + name + " has dtype " + dtype + "; supported: F32, BF16, F16");
    };
  }

  public Map<String, Entry> entries() {
    return entries;
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  public Path file() {
    return file;
  }

  /** Loads one tensor as float32 into {@code manager}. */
  public NDArray load(String name, NDManager manager) throws IOException {
    Entry e = entries.get(name);
    if (e == null) {
      throw new IOException(file + ": no tensor " + name);
    }
    long n = e.end - e.begin;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin, n);
      map.order(ByteOrder.LITTLE_ENDIAN);
      Shape shape = new Shape(e.shape);
      if (e.dtype.equals("F32")) {
        return Tensors.owned(manager.create(map, shape, DataType.FLOAT32));
      }
      int count = Math.toIntExact(shape.size());
      FloatBuffer out =
          ByteBuffer.allocateDirect(count * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
      for (int i = 0; i < count; i++) {
        short bits = map.getShort();
        out.put(
            e.dtype.equals("BF16")
                ? Float.intBitsToFloat((bits & 0xffff) << 16)
                : halfToFloat(bits));
      }
      out.rewind();
      return Tensors.owned(manager.create(out, shape, DataType.FLOAT32));
    }
  }

  /** IEEE 754 binary16 to float (Java 17 has no Float.float16ToFloat). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits >>> 15) << 31;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0) {
      if (mant == 0) {
        return Float.intBitsToFloat(sign);
      }
      float v = mant / 1024f / 16384f; // subnormal: mant * 2^-24
      return sign == 0 ? v : -v;
    }
    if (exp == 31) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }

  /**
   * Writes float32 tensors in name order with the given metadata. The header is padded with spaces
   * to a multiple of 8 bytes, as the reference implementation does, so data stays aligned.
   */
  public static void write(Path file, Map<String, NDArray> tensors, Map<String, String> metadata)
      throws IOException {
    Map<String, NDArray> sorted = new TreeMap<>(tensors);
    ObjectNode header = JSON.createObjectNode();
    if (metadata != null && !metadata.isEmpty()) {
      ObjectNode md = header.putObject("__metadata__");
      new TreeMap<>(metadata).forEach(md::put);
    }
    long offset = 0;
    List<NDArray> order = new ArrayList<>();
    for (Map.Entry<String, NDArray> t : sorted.entrySet()) {
      NDArray a = t.getValue();
      if (a.getDataType() != DataType.FLOAT32) {
        throw new IOException(
            "only float32 tensors are written, " + t.getKey() + " is " + a.getDataType());
      }
      long bytes = a.getShape().size() * 4;
      ObjectNode n = header.putObject(t.getKey());
      n.put("dtype", "F32");
      var shape = n.putArray("shape");
      for (long d : a.getShape().getShape()) {
        shape.add(d);
      }
      var offs = n.putArray("data_offsets");
      offs.add(offset);
      offs.add(offset + bytes);
      offset += bytes;
      order.add(a);
    }
    byte[] json = JSON.writeValueAsBytes(header);
    int padded = (json.length + 7) / 8 * 8;
    byte[] headerBytes = new byte[padded];
    System.arraycopy(json, 0, headerBytes, 0, json.length);
    for (int i = json.length; i < padded; i++) {
      headerBytes[i] = ' ';
    }
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
      out.write(len.array());
      out.write(headerBytes);
      for (NDArray a : order) {
        ByteBuffer data = a.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        byte[] bytes = new byte[data.remaining()];
        // toByteBuffer is in native order; x86 and aarch64 are little-endian like the format.
        data.get(bytes);
        out.write(bytes);
      }
    }
    Files.move(
        tmp,
        file,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }
}
