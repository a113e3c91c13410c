package io.loraops.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.trainer.TrainerException;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.SafeTensors;
import io.loraops.trainer.report.Reports;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * {@code lora-trainer export-merged}: the base model with an adapter merged in, {@code W' = W0 +
 * scale·B·A} in every adapted layer ({@link LoraLinear#merge}: the LoRA paper's zero-latency
 * deployment, Hu et al. 2021 section 4.1), written as a Hugging Face model folder that
 * transformers, vLLM and {@code lora-trainer serve} load as a plain base model.
 *
 * <ul>
 *   <li>The adapter is checked against the base before anything is written: every key names a
 *       linear layer of this base with matching shapes, target_modules selects exactly the layers
 *       it has factors for, and adapter_config.json asks for nothing but plain LoRA ({@link
 *       PeftAdapter#load}); anything else exits 2 and names the problem.
 *   <li>Only the adapted weights are computed: W0 is read widened to float32, the merge runs in
 *       float32 and the sum is rounded once (to nearest even) to W0's dtype in the base files (F32,
 *       BF16 or F16 are kept as they are). Every other tensor, biases of adapted layers included,
 *       is copied byte for byte. Memory is one weight at a time, not the model.
 *   <li>Layout as transformers' {@code save_pretrained}: shards of at most {@code maxShardBytes}
 *       ({@code model-00001-of-0000N.safetensors} with {@code model.safetensors.index.json}; a
 *       single {@code model.safetensors} when everything fits in one), and every other top-level
 *       file of the base (config.json as is, so the dtype is the base's; generation_config.json,
 *       tokenizer files, chat template, license) copied. {@value #RECORD_FILE} records the inputs.
 *   <li>Atomic: everything is written into a hidden folder beside {@code out} and renamed to it at
 *       the end, so a crash never leaves a partial model at {@code out}. An existing {@code out}
 *       that records the same base and adapter is left as it is (a retried export succeeds); any
 *       other existing, non-empty {@code out} is refused.
 * </ul>
 */
public final class MergedExport {
  /** transformers' default {@code max_shard_size="5GB"} (decimal, as it parses it). */
  public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

  public static final String RECORD_FILE = "lora_merge.json";
  public static final String INDEX_FILE = "model.safetensors.index.json";
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * What an export produced.
   *
   * @param files every file in {@code out}, sorted
   * @param digest {@code sha256:} over those files in name order (as an adapter's digest)
   * @param mergedModules the module paths whose weight was merged
   * @param existing true when {@code out} already held this export and nothing was written
   */
  public record Result(
      Path out, List<String> files, String digest, List<String> mergedModules, boolean existing) {}

  private MergedExport() {}

  /** One tensor of the output: its name in the base files, and the adapted module or null. */
  private record Planned(String name, SafeTensors file, SafeTensors.Entry entry, String module) {}

  /**
   * Writes {@code base} with the adapter in {@code adapter} merged in to {@code out}. Throws a bad
   * config {@link TrainerException} (exit 2) for an adapter that does not fit the base or asks for
   * more than plain LoRA, or an {@code out} that holds something else.
   */
  public static Result export(Path base, Path adapter, Path out, long maxShardBytes)
      throws IOException {
    return export(base, adapter, out, maxShardBytes, null);
  }

  /**
   * As {@link #export(Path, Path, Path, long)}; with {@code baseModelName} (the name the base is
   * known by, e.g. a LoraJob's {@code baseModel.name}) the adapter's {@code
   * base_model_name_or_path} must also be that name (or a path with the same last segment, as
   * {@link PeftAdapter#baseMatches} compares; empty: unknown, accepted): shapes alone cannot tell a
   * model from its fine-tuned sibling.
   */
  public static Result export(
      Path base, Path adapter, Path out, long maxShardBytes, String baseModelName)
      throws IOException {
    if (maxShardBytes <= 0) {
      throw TrainerException.badConfig("--max-shard-size must be positive, got " + maxShardBytes);
    }
    out = out.toAbsolutePath().normalize();
    ObjectNode record = record(base, adapter);
    if (baseModelName != null) {
      checkBaseName(adapter, base, baseModelName);
    }
    Result existing = existing(out, record);
    if (existing != null) {
      return existing;
    }
    ModelLoader.Checkpoint ck = ModelLoader.open(base);
    Path tmp = out.resolveSibling("." + out.getFileName() + ".partial");
    List<String> merged = new ArrayList<>();
    try (NDManager manager = NDManager.newBaseManager()) {
      // Everything is checked before the first byte is written.
      CausalLM skeleton = ModelLoader.skeleton(ck, manager);
      PeftAdapter.Loaded loaded = PeftAdapter.load(adapter, skeleton, manager);
      Map<String, NDArray[]> factors = new TreeMap<>();
      loaded.factors().forEach((layer, ab) -> factors.put(layer.path(), ab));
      List<List<Planned>> shards = shards(plan(ck, factors.keySet()), maxShardBytes);
      boolean conv1d = ck.config().family().equals("gpt2"); // Conv1D weights are [in, out]
      deleteTree(tmp); // what a crashed run left
      Files.createDirectories(tmp);
      try {
        Map<String, String> weightMap = new TreeMap<>();
        long total = 0;
        for (int s = 0; s < shards.size(); s++) {
          String file =
              shards.size() == 1
                  ? "model.safetensors"
                  : String.format(
                      Locale.ROOT, "model-%05d-of-%05d.safetensors", s + 1, shards.size());
          Map<String, SafeTensors.Source> sources = new LinkedHashMap<>();
          for (Planned p : shards.get(s)) {
            sources.put(p.name(), source(p, factors, loaded.spec().scale(), conv1d, manager));
            weightMap.put(p.name(), file);
            total += SafeTensors.bytes(p.entry());
            if (p.module() != null) {
              merged.add(p.module());
            }
          }
          SafeTensors.writeSources(tmp.resolve(file), sources, Map.of("format", "pt"));
        }
        if (shards.size() > 1) {
          ObjectNode index = JSON.createObjectNode();
          index.putObject("metadata").put("total_size", total);
          ObjectNode map = index.putObject("weight_map");
          weightMap.forEach(map::put);
          writeSynced(tmp.resolve(INDEX_FILE), JSON.writeValueAsString(index) + "\n");
        }
        copyOtherFiles(base, tmp);
        LoraSpec spec = loaded.spec();
        record.put("r", spec.rank());
        record.put("loraAlpha", spec.alpha());
        record.put("useRslora", spec.rsLora());
        record.put("scale", spec.scale());
        var targets = record.putArray("targetModules");
        spec.targetModules().forEach(targets::add);
        var modules = record.putArray("mergedModules");
        merged.forEach(modules::add);
        writeSynced(tmp.resolve(RECORD_FILE), JSON.writeValueAsString(record) + "\n");
      } catch (IOException | RuntimeException e) {
        deleteTree(tmp);
        throw e;
      }
    }
    syncDir(tmp);
    if (Files.isDirectory(out)) {
      Files.delete(out); // empty (existing() refused a non-empty one): rename needs it gone
    }
    Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
    syncDir(out.getParent());
    List<String> files = files(out);
    return new Result(out, files, Reports.digest(out, files), merged, false);
  }

  /** Every tensor of the base files in name order, with the module it merges into, if any. */
  private static List<Planned> plan(ModelLoader.Checkpoint ck, Set<String> adapted) {
    Map<String, String> moduleOf = new TreeMap<>(); // stored weight name -> adapted module path
    for (String path : adapted) {
      moduleOf.put(ck.stored().get(path + ".weight"), path);
    }
    List<Planned> plan = new ArrayList<>();
    for (String name : new TreeMap<>(ck.fileOf()).keySet()) {
      plan.add(new Planned(name, ck.fileOf().get(name), ck.entry(name), moduleOf.get(name)));
    }
    return plan;
  }

  /**
   * Tensors split into shards of at most {@code max} bytes in order, as transformers' {@code
   * save_pretrained} does: a shard closes when the next tensor would not fit, and a tensor larger
   * than {@code max} gets a shard of its own.
   */
  static <T> List<List<T>> shards(
      List<T> tensors, java.util.function.ToLongFunction<T> size, long max) {
    List<List<T>> shards = new ArrayList<>();
    List<T> current = new ArrayList<>();
    long bytes = 0;
    for (T t : tensors) {
      long n = size.applyAsLong(t);
      if (!current.isEmpty() && bytes + n > max) {
        shards.add(current);
        current = new ArrayList<>();
        bytes = 0;
      }
      current.add(t);
      bytes += n;
    }
    if (!current.isEmpty() || shards.isEmpty()) {
      shards.add(current);
    }
    return shards;
  }

  private static List<List<Planned>> shards(List<Planned> plan, long max) {
    return shards(plan, p -> SafeTensors.bytes(p.entry()), max);
  }

  /**
   * A tensor's data for the writer: the base bytes as they are, or for an adapted weight W0 + scale
   * B·A computed when the writer reaches it (in a sub-manager of its own, freed right after).
   */
  private static SafeTensors.Source source(
      Planned p, Map<String, NDArray[]> factors, float scale, boolean conv1d, NDManager manager) {
    SafeTensors.Entry e = p.entry();
    if (p.module() == null) {
      return new SafeTensors.Source(e.dtype(), e.shape(), out -> p.file().transfer(p.name(), out));
    }
    NDArray[] ab = factors.get(p.module());
    return new SafeTensors.Source(
        e.dtype(),
        e.shape(),
        out -> {
          try (NDManager m = manager.newSubManager()) {
            NDArray w0 = p.file().load(p.name(), m); // float32, widened exactly from BF16/F16
            LoraLinear layer =
                new LoraLinear(
                    p.module(),
                    conv1d ? w0.transpose(1, 0) : w0,
                    null,
                    x -> x,
                    null); // merged only
            layer.setAdapter(ab[0], ab[1], scale, 0);
            layer.merge(); // W0 + scale·B·A in float32, [out, in]
            NDArray w = layer.weight(); // [out, in]
            if (conv1d) { // back to [in, out] as stored; reshape copies it into that order
              w = w.transpose(1, 0).reshape(e.shape());
            }
            SafeTensors.Source.of(w, e.dtype()).data().writeTo(out);
          }
        });
  }

  /** Copies the top-level files of {@code base} that are not weights (config, tokenizer, ...). */
  private static void copyOtherFiles(Path base, Path tmp) throws IOException {
    try (Stream<Path> files = Files.list(base)) {
      for (Path f : files.sorted().toList()) {
        String name = f.getFileName().toString();
        if (Files.isRegularFile(f) && !isWeights(name) && !name.equals(RECORD_FILE)) {
          Files.copy(f, tmp.resolve(name));
          try (FileChannel ch = FileChannel.open(tmp.resolve(name), StandardOpenOption.WRITE)) {
            ch.force(true);
          }
        }
      }
    }
  }

  /** Weight files of any framework: replaced by the merged safetensors, never copied. */
  static boolean isWeights(String name) {
    return name.endsWith(".safetensors")
        || name.endsWith(".safetensors.index.json")
        || name.endsWith(".bin")
        || name.endsWith(".bin.index.json")
        || name.endsWith(".pt")
        || name.endsWith(".pth")
        || name.endsWith(".ckpt")
        || name.endsWith(".gguf")
        || name.endsWith(".h5")
        || name.endsWith(".msgpack");
  }

  /**
   * The inputs an export is identified by: base folder and the digest of its config.json, adapter
   * folder and its digest (as the trial reported it).
   */
  private static ObjectNode record(Path base, Path adapter) throws IOException {
    for (Path f :
        List.of(
            base.resolve("config.json"),
            adapter.resolve(PeftAdapter.CONFIG_FILE),
            adapter.resolve(PeftAdapter.WEIGHTS_FILE))) {
      if (!Files.isRegularFile(f)) {
        throw TrainerException.badConfig(
            "export-merged: "
                + f
                + " does not exist (--base-model must be a Hugging Face model"
                + " folder, --adapter a PEFT adapter folder)");
      }
    }
    ObjectNode r = JSON.createObjectNode();
    r.put("baseModel", base.toAbsolutePath().normalize().toString());
    r.put("baseConfigDigest", Reports.digest(base, List.of("config.json")));
    r.put("adapter", adapter.toAbsolutePath().normalize().toString());
    r.put(
        "adapterDigest",
        Reports.digest(adapter, List.of(PeftAdapter.CONFIG_FILE, PeftAdapter.WEIGHTS_FILE)));
    return r;
  }

  private static void checkBaseName(Path adapter, Path base, String name) throws IOException {
    JsonNode c = JSON.readTree(adapter.resolve(PeftAdapter.CONFIG_FILE).toFile());
    String declared = c == null ? "" : c.path("base_model_name_or_path").asText("");
    // The given name, not the folder's: the same name, or the same last path segment of it.
    if (!PeftAdapter.baseMatches(declared, name, name)) {
      throw TrainerException.badConfig(
          "export-merged: adapter "
              + adapter
              + " was trained on base model '"
              + declared
              + "' ("
              + PeftAdapter.CONFIG_FILE
              + " base_model_name_or_path), not on '"
              + name
              + "' (--base-model-name) at "
              + base
              + "; merge it into its own base model");
    }
  }

  /**
   * The result of an earlier export of the same inputs at {@code out}, or null when {@code out}
   * does not exist or is empty; anything else there is refused.
   */
  private static Result existing(Path out, ObjectNode record) throws IOException {
    if (!Files.exists(out) || (Files.isDirectory(out) && files(out).isEmpty())) {
      return null;
    }
    Path recorded = out.resolve(RECORD_FILE);
    if (Files.isDirectory(out) && Files.isRegularFile(recorded)) {
      JsonNode r = JSON.readTree(recorded.toFile());
      if (r.path("baseConfigDigest").equals(record.get("baseConfigDigest"))
          && r.path("adapterDigest").equals(record.get("adapterDigest"))) {
        List<String> files = files(out);
        List<String> modules = new ArrayList<>();
        r.path("mergedModules").forEach(n -> modules.add(n.asText()));
        return new Result(out, files, Reports.digest(out, files), modules, true);
      }
    }
    throw TrainerException.badConfig(
        "export-merged: --out "
            + out
            + " already exists and is not an export of this base model and adapter; remove it or"
            + " choose another folder");
  }

  private static List<String> files(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static void writeSynced(Path file, String text) throws IOException {
    Files.writeString(file, text);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  /** fsync of a directory, so the renames in it survive a crash of the node (Linux allows it). */
  private static void syncDir(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // Not every file system lets a directory be opened for sync; the rename stays atomic.
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
