package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * Loads a Hugging Face model folder: {@code config.json} plus {@code model.safetensors} or a
 * sharded {@code model.safetensors.index.json}. Every expected weight must be present with its
 * exact shape and no unknown weight may be left over; each violation is reported by name (exit code
 * 2).
 */
public final class ModelLoader {
  private ModelLoader() {}

  /** Loads the model in {@code dir} into {@code manager} (float32). */
  public static CausalLM load(Path dir, NDManager manager) {
    return load(dir, manager, DataType.FLOAT32);
  }

  /**
   * A model folder whose config.json and tensor files have been checked against each other (headers
   * only, no tensor read).
   *
   * @param config the parsed config.json
   * @param stored canonical Hugging Face name of each tensor the model expects -> its name in the
   *     files (GPT-2 files may lack the {@code transformer.} prefix)
   * @param fileOf every tensor name in the files -> the file holding it
   */
  public record Checkpoint(
      Path dir, ModelConfig config, Map<String, String> stored, Map<String, SafeTensors> fileOf) {

    /** The header entry of the tensor stored as {@code storedName}. */
    public SafeTensors.Entry entry(String storedName) {
      return fileOf.get(storedName).entries().get(storedName);
    }
  }

  /**
   * Reads {@code dir}'s config.json and tensor headers and checks them against each other: every
   * expected weight present with its exact shape, no unknown one left over; each violation is
   * reported by name.
   */
  public static Checkpoint open(Path dir) {
    ModelConfig config = ModelConfig.read(dir);
    Map<String, Shape> expected = CausalLM.expectedShapes(config);
    Map<String, SafeTensors> fileOf = index(dir);
    // Names in files may lack GPT-2's "transformer." prefix (the original OpenAI-converted files).
    Map<String, String> canonical = new TreeMap<>();
    for (String name : fileOf.keySet()) {
      canonical.put(canonicalName(config, name), name);
    }
    List<String> problems = new ArrayList<>();
    for (Map.Entry<String, Shape> e : expected.entrySet()) {
      String stored = canonical.get(e.getKey());
      if (stored == null) {
        problems.add("missing weight " + e.getKey() + " " + e.getValue());
        continue;
      }
      Shape actual = new Shape(fileOf.get(stored).entries().get(stored).shape());
      if (!actual.equals(e.getValue())) {
        problems.add(
            "weight " + e.getKey() + " has shape " + actual + ", expected " + e.getValue());
      }
    }
    for (String name : new TreeSet<>(canonical.keySet())) {
      if (!expected.containsKey(name) && !ignorable(config, name)) {
        problems.add("unexpected weight " + name);
      }
    }
    if (!problems.isEmpty()) {
      int shown = Math.min(problems.size(), 10);
      throw TrainerException.badConfig(
          "baseModel "
              + dir
              + " does not match its config.json ("
              + config.family()
              + "): "
              + String.join("; ", problems.subList(0, shown))
              + (problems.size() > shown ? "; and " + (problems.size() - shown) + " more" : ""));
    }
    Map<String, String> stored = new LinkedHashMap<>();
    expected.keySet().forEach(name -> stored.put(name, canonical.get(name)));
    return new Checkpoint(dir, config, stored, fileOf);
  }

  /**
   * Loads the model in {@code dir} into {@code manager} in {@code dtype}: FLOAT32, or BFLOAT16 for
   * mixed precision (see {@link CausalLM}).
   */
  public static CausalLM load(Path dir, NDManager manager, DataType dtype) {
    Checkpoint c = open(dir);
    Map<String, Supplier<NDArray>> weights = new LinkedHashMap<>();
    c.stored()
        .forEach(
            (name, stored) ->
                weights.put(
                    name,
                    () -> {
                      try {
                        return c.fileOf().get(stored).load(stored, manager);
                      } catch (IOException e) {
                        throw new UncheckedIOException(e);
                      }
                    }));
    try {
      return CausalLM.create(c.config(), manager, weights, dtype);
    } catch (UncheckedIOException e) {
      throw TrainerException.badConfig("baseModel " + dir + ": " + e.getCause().getMessage());
    }
  }

  /**
   * The model of checkpoint {@code c} with every weight a zero of its shape that occupies no memory
   * (one scalar expanded, a view with stride 0): its layers, paths and shapes are those of the real
   * model, for checking an adapter against a base too large to load. Its outputs mean nothing.
   */
  public static CausalLM skeleton(Checkpoint c, NDManager manager) {
    NDArray zero = manager.zeros(new Shape());
    Map<String, Supplier<NDArray>> weights = new LinkedHashMap<>();
    CausalLM.expectedShapes(c.config())
        .forEach((name, shape) -> weights.put(name, () -> zero.broadcast(shape)));
    return CausalLM.create(c.config(), manager, weights, DataType.FLOAT32);
  }

  private static String canonicalName(ModelConfig config, String name) {
    if (config.family().equals("gpt2")
        && !name.startsWith("transformer.")
        && !name.startsWith("lm_head.")) {
      return "transformer." + name;
    }
    return name;
  }

  private static boolean ignorable(ModelConfig config, String name) {
    // Non-persistent buffers some exporters still write, and a tied head saved anyway.
    return name.endsWith(".attn.bias")
        || name.endsWith(".attn.masked_bias")
        || name.endsWith("rotary_emb.inv_freq")
        || (config.tiedEmbeddings() && name.equals("lm_head.weight"));
  }

  private static Map<String, SafeTensors> index(Path dir) {
    Path single = dir.resolve("model.safetensors");
    Path indexFile = dir.resolve("model.safetensors.index.json");
    Map<String, SafeTensors> fileOf = new LinkedHashMap<>();
    try {
      if (Files.isRegularFile(indexFile)) {
        JsonNode map = new ObjectMapper().readTree(indexFile.toFile()).path("weight_map");
        Map<String, SafeTensors> shards = new TreeMap<>();
        for (var it = map.fields(); it.hasNext(); ) {
          var e = it.next();
          String shard = e.getValue().asText();
          SafeTensors st = shards.get(shard);
          if (st == null) {
            st = SafeTensors.open(dir.resolve(shard));
            shards.put(shard, st);
          }
          if (!st.entries().containsKey(e.getKey())) {
            throw TrainerException.badConfig(
                indexFile + " maps " + e.getKey() + " to " + shard + ", which does not hold it");
          }
          fileOf.put(e.getKey(), st);
        }
      } else if (Files.isRegularFile(single)) {
        SafeTensors st = SafeTensors.open(single);
        st.entries().keySet().forEach(k -> fileOf.put(k, st));
      } else {
        throw TrainerException.badConfig(
            "baseModel.path "
                + dir
                + " holds neither model.safetensors nor model.safetensors.index.json");
      }
    } catch (IOException e) {
      throw TrainerException.badConfig("baseModel " + dir + ": " + e.getMessage());
    }
    return fileOf;
  }
}
