package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
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

  /** The bytes {@code e}'s data takes in the file. */
  public static long bytes(Entry e) {
    return e.end - e.begin;
  }

  /** Copies tensor {@code name}'s bytes, as stored (dtype unchanged), to {@code out}. */
  public void transfer(String name, WritableByteChannel out) throws IOException {
    Entry e = entries.get(name);
    if (e == null) {
      throw new IOException(file + ": no tensor " + name);
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long pos = dataStart + e.begin;
      long left = e.end - e.begin;
      while (left > 0) {
        long n = ch.transferTo(pos, left, out);
        if (n <= 0) {
          throw new IOException(file + ": short read of " + name);
        }
        pos += n;
        left -= n;
      }
    }
  }

  /** What writes one tensor's little-endian bytes. */
  @FunctionalInterface
  public interface Data {
    void writeTo(WritableByteChannel out) throws IOException;
  }

  /**
   * One tensor to write: its header fields and its data, produced only when the writer reaches it
   * (so a file of many tensors never needs them all in memory at once).
   *
   * @param dtype F32, BF16 or F16
   * @param data writes exactly shape.size() x (4 or 2) bytes
   */
  public record Source(String dtype, long[] shape, Data data) {

    /** A float32 tensor written in {@code dtype}: see {@link #encode}. */
    public static Source of(NDArray fp32, String dtype) {
      return new Source(
          dtype, fp32.getShape().getShape(), out -> writeAll(out, encode(fp32, dtype)));
    }
  }

  /**
   * {@code fp32}'s values as little-endian {@code dtype} bytes: F32 as they are, BF16 and F16
   * rounded to nearest even (as PyTorch's {@code .to(torch.bfloat16)} and {@code .half()} do).
   */
  public static ByteBuffer encode(NDArray fp32, String dtype) {
    if (fp32.getDataType() != DataType.FLOAT32) {
      throw new IllegalArgumentException("encode takes float32, got " + fp32.getDataType());
    }
    // toByteBuffer is in native order; x86 and aarch64 are little-endian like the format.
    return switch (dtype) {
      case "F32" -> fp32.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      case "F16" -> {
        try (NDArray half = fp32.toType(DataType.FLOAT16, false)) {
          ByteBuffer b = half.toByteBuffer();
          ByteBuffer copy = ByteBuffer.allocateDirect(b.remaining()).order(ByteOrder.LITTLE_ENDIAN);
          copy.put(b.order(ByteOrder.LITTLE_ENDIAN)).flip();
          yield copy;
        }
      }
      case "BF16" -> {
        // DJL has no bfloat16 in its JNI (toType(BFLOAT16) aborts the JVM): rounded here.
        FloatBuffer in = fp32.toByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
        ByteBuffer outBuf =
            ByteBuffer.allocateDirect(in.remaining() * 2).order(ByteOrder.LITTLE_ENDIAN);
        while (in.hasRemaining()) {
          outBuf.putShort(floatToBfloat16(in.get()));
        }
        yield outBuf.flip();
      }
      default -> throw new IllegalArgumentException("no encoding for dtype " + dtype);
    };
  }

  /** float to bfloat16 bits, rounding to nearest even; NaN stays a (quiet) NaN, as c10 does. */
  static short floatToBfloat16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    int lsb = (bits >>> 16) & 1;
    return (short) ((bits + 0x7fff + lsb) >>> 16);
  }

  private static void writeAll(WritableByteChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      out.write(b);
    }
  }

  /** Writes float32 tensors in name order with the given metadata; see {@link #writeSources}. */
  public static void write(Path file, Map<String, NDArray> tensors, Map<String, String> metadata)
      throws IOException {
    Map<String, Source> sources = new TreeMap<>();
    for (Map.Entry<String, NDArray> t : tensors.entrySet()) {
      NDArray a = t.getValue();
      if (a.getDataType() != DataType.FLOAT32) {
        throw new IOException(
            "only float32 tensors are written, " + t.getKey() + " is " + a.getDataType());
      }
      sources.put(t.getKey(), Source.of(a, "F32"));
    }
    writeSources(file, sources, metadata);
  }

  /**
   * Writes tensors in name order with the given metadata, each tensor's data produced as the writer
   * reaches it. The header is padded with spaces to a multiple of 8 bytes, as the reference
   * implementation does, so data stays aligned. The file appears whole or not at all (written
   * beside it, synced, then renamed).
   */
  public static void writeSources(
      Path file, Map<String, Source> tensors, Map<String, String> metadata) throws IOException {
    Map<String, Source> sorted = new TreeMap<>(tensors);
    ObjectNode header = JSON.createObjectNode();
    if (metadata != null && !metadata.isEmpty()) {
      ObjectNode md = header.putObject("__metadata__");
      new TreeMap<>(metadata).forEach(md::put);
    }
    long offset = 0;
    for (Map.Entry<String, Source> t : sorted.entrySet()) {
      Source src = t.getValue();
      long bytes = new Shape(src.shape()).size() * bytesPer(src.dtype(), t.getKey(), file);
      ObjectNode n = header.putObject(t.getKey());
      n.put("dtype", src.dtype());
      var shape = n.putArray("shape");
      for (long d : src.shape()) {
        shape.add(d);
      }
      var offs = n.putArray("data_offsets");
      offs.add(offset);
      offs.add(offset + bytes);
      offset += bytes;
    }
    byte[] json = JSON.writeValueAsBytes(header);
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    head.flip();
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (FileChannel out =
        FileChannel.open(
            tmp,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      writeAll(out, head);
      for (Map.Entry<String, Source> t : sorted.entrySet()) {
        long before = out.position();
        t.getValue().data().writeTo(out);
        long expected =
            new Shape(t.getValue().shape()).size()
                * bytesPer(t.getValue().dtype(), t.getKey(), file);
        if (out.position() - before != expected) {
          throw new IOException(
              file
                  + ": tensor "
                  + t.getKey()
                  + " wrote "
                  + (out.position() - before)
                  + " bytes, expected "
                  + expected);
        }
      }
      out.force(true);
    }
    Files.move(
        tmp,
        file,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }
}
