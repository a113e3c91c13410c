package io.loraops.trainer.lora;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.contract.ExitCodes;
import io.loraops.trainer.Fixtures;
import io.loraops.trainer.Main;
import io.loraops.trainer.TrainerException;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code export-merged} on tiny models of each family the trainer has a preset for: the merged
 * folder, loaded fresh, gives the logits of base + adapter (unmerged); everything but the adapted
 * weights is the base byte for byte; half-precision bases stay half precision with the merge
 * rounded once; adapters that do not fit or ask for more than plain LoRA are refused by name.
 */
class MergedExportTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long SMALL_SHARDS = 20_000; // a few tensors per shard: sharding exercised

  @TempDir Path tmp;

  /** Logits [2, 12, V] of the model in {@code dir}, with {@code adapter} applied unmerged. */
  private static float[] logits(Path dir, Path adapter) {
    try (NDManager m = NDManager.newBaseManager();
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      CausalLM model = ModelLoader.load(dir, m);
      if (adapter != null) {
        PeftAdapter.read(adapter, model);
      }
      NDArray ids = m.create(Fixtures.probeIds(2 * 12, 200), new Shape(2, 12));
      return model.forward(ids, false).toFloatArray();
    }
  }

  private static float maxAbsDiff(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    float d = 0;
    for (int i = 0; i < a.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
    }
    return d;
  }

  /** Every tensor of the model folder {@code dir} by name, as float32 values. */
  private static Map<String, float[]> tensors(Path dir) throws IOException {
    Map<String, float[]> t = new TreeMap<>();
    try (NDManager m = NDManager.newBaseManager();
        Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).toList()) {
        SafeTensors st = SafeTensors.open(f);
        for (String name : st.entries().keySet()) {
          t.put(name, st.load(name, m).toFloatArray());
        }
      }
    }
    return t;
  }

  private static Map<String, String> dtypes(Path dir) throws IOException {
    Map<String, String> t = new TreeMap<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).toList()) {
        SafeTensors.open(f).entries().forEach((k, e) -> t.put(k, e.dtype()));
      }
    }
    return t;
  }

  private Path adapter(String preset, String name, List<String> targets, boolean rsLora)
      throws IOException {
    Path dir = tmp.resolve(name);
    RandomAdapter.write(
        Fixtures.model(preset),
        dir,
        4,
        targets,
        7,
        preset,
        rsLora ? RandomAdapter.Weights.RANDOM_RSLORA : RandomAdapter.Weights.RANDOM);
    return dir;
  }

  @ParameterizedTest
  @ValueSource(
      strings = {"tiny-gpt2", "tiny-llama", "tiny-llama-tied", "tiny-qwen3-h32", "tiny-phi3"})
  void mergedModelLoadedFreshGivesTheLogitsOfBasePlusAdapter(String preset) throws Exception {
    Path base = Fixtures.model(preset);
    boolean rsLora = preset.equals("tiny-llama"); // both scales, alpha/r and alpha/sqrt(r)
    Path adapter = adapter(preset, "adapter", List.of("all-linear"), rsLora);
    Path out = tmp.resolve("merged");

    MergedExport.Result r = MergedExport.export(base, adapter, out, SMALL_SHARDS);

    float[] baseLogits = logits(base, null);
    float[] adapted = logits(base, adapter);
    float[] merged = logits(out, null);
    assertThat(maxAbsDiff(merged, adapted)).as("merged vs base + adapter").isLessThan(1e-4f);
    assertThat(maxAbsDiff(adapted, baseLogits)).as("the adapter matters").isGreaterThan(1e-1f);

    // Hugging Face layout: several shards and an index naming each tensor's shard exactly.
    assertThat(r.existing()).isFalse();
    assertThat(r.files())
        .contains(MergedExport.INDEX_FILE, "config.json", "tokenizer.json", "tokenizer_config.json")
        .doesNotContain("model.safetensors");
    JsonNode index = JSON.readTree(out.resolve(MergedExport.INDEX_FILE).toFile());
    Map<String, String> dtypes = dtypes(out);
    assertThat(r.files().stream().filter(f -> f.matches("model-\\d{5}-of-\\d{5}\\.safetensors")))
        .hasSizeGreaterThan(1);
    index
        .get("weight_map")
        .fields()
        .forEachRemaining(
            e -> {
              try {
                assertThat(
                        SafeTensors.open(out.resolve(e.getValue().asText()))
                            .entries()
                            .containsKey(e.getKey()))
                    .as(e.getKey())
                    .isTrue();
              } catch (IOException x) {
                throw new RuntimeException(x);
              }
            });
    assertThat(index.get("weight_map").size()).isEqualTo(dtypes.size());
    assertThat(Files.readAllBytes(out.resolve("config.json")))
        .isEqualTo(Files.readAllBytes(base.resolve("config.json")));
    assertThat(out.resolveSibling(".merged.partial")).doesNotExist();

    // Exactly the adapted weights changed; every other tensor, biases included, is the base's.
    Map<String, float[]> before = tensors(base);
    Map<String, float[]> after = tensors(out);
    assertThat(after.keySet()).isEqualTo(before.keySet());
    List<String> changed =
        before.keySet().stream()
            .filter(k -> !java.util.Arrays.equals(before.get(k), after.get(k)))
            .toList();
    assertThat(changed)
        .containsExactlyInAnyOrderElementsOf(
            r.mergedModules().stream().map(p -> p + ".weight").toList());
    try (NDManager m = NDManager.newBaseManager()) {
      int linears = ModelLoader.load(base, m).linears().size();
      assertThat(r.mergedModules()).hasSize(linears);
    }
  }

  @Test
  void aSecondExportOfTheSameInputsLeavesTheFirstAndAnyOtherAdapterIsRefused() throws Exception {
    Path base = Fixtures.model("tiny-llama");
    Path a1 = adapter("tiny-llama", "a1", List.of("q_proj", "v_proj"), false);
    Path out = tmp.resolve("merged");
    Files.createDirectories(tmp.resolve(".merged.partial"));
    Files.writeString(tmp.resolve(".merged.partial/junk"), "a crashed run's leftovers");

    MergedExport.Result first =
        MergedExport.export(base, a1, out, MergedExport.DEFAULT_MAX_SHARD_BYTES);
    assertThat(first.files()).contains("model.safetensors").doesNotContain(MergedExport.INDEX_FILE);
    assertThat(first.mergedModules()).hasSize(2 * 2); // 2 layers x q, v
    assertThat(tmp.resolve(".merged.partial")).doesNotExist();
    long written = Files.getLastModifiedTime(out.resolve("model.safetensors")).toMillis();

    MergedExport.Result again =
        MergedExport.export(base, a1, out, MergedExport.DEFAULT_MAX_SHARD_BYTES);
    assertThat(again.existing()).isTrue();
    assertThat(again.digest()).isEqualTo(first.digest());
    assertThat(Files.getLastModifiedTime(out.resolve("model.safetensors")).toMillis())
        .isEqualTo(written);

    Path a2 = adapter("tiny-llama", "a2", List.of("o_proj"), false);
    assertThatThrownBy(() -> MergedExport.export(base, a2, out, SMALL_SHARDS))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining("already exists and is not an export of this base model and adapter");
    assertThat(MergedExport.export(base, a1, out, SMALL_SHARDS).digest()).isEqualTo(first.digest());
  }

  /** {@code base} with every tensor stored in {@code dtype} (BF16 or F16), in two shards. */
  private Path halfPrecision(Path base, String dtype) throws IOException {
    Path dir = tmp.resolve("base-" + dtype);
    Files.createDirectories(dir);
    for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
      Files.copy(base.resolve(f), dir.resolve(f));
    }
    try (NDManager m = NDManager.newBaseManager()) {
      SafeTensors st = SafeTensors.open(base.resolve("model.safetensors"));
      Map<String, SafeTensors.Source> all = new TreeMap<>();
      for (String name : st.entries().keySet()) {
        all.put(name, SafeTensors.Source.of(st.load(name, m), dtype));
      }
      SafeTensors.writeSources(dir.resolve("model.safetensors"), all, Map.of("format", "pt"));
    }
    return dir;
  }

  @ParameterizedTest
  @ValueSource(strings = {"BF16", "F16"})
  void halfPrecisionBasesStayHalfWithTheMergeRoundedOnceFromFloat32(String dtype) throws Exception {
    Path base = halfPrecision(Fixtures.model("tiny-llama"), dtype);
    Path adapter = adapter("tiny-llama", "adapter", List.of("all-linear"), false);
    Path out = tmp.resolve("merged");

    MergedExport.Result r = MergedExport.export(base, adapter, out, SMALL_SHARDS);

    assertThat(dtypes(out).values()).containsOnly(dtype);
    Map<String, float[]> w0 = tensors(base);
    Map<String, float[]> merged = tensors(out);
    String q = "model.layers.1.self_attn.q_proj";
    assertThat(r.mergedModules()).contains(q);
    float[] wq0 = w0.get(q + ".weight");
    float[] wq = merged.get(q + ".weight");
    float[] a;
    float[] b;
    try (NDManager m = NDManager.newBaseManager()) {
      SafeTensors st = SafeTensors.open(adapter.resolve(PeftAdapter.WEIGHTS_FILE));
      a = st.load("base_model.model." + q + ".lora_A.weight", m).toFloatArray();
      b = st.load("base_model.model." + q + ".lora_B.weight", m).toFloatArray();
    }
    int rank = 4;
    int in = a.length / rank;
    double scale = 2.0 * rank / rank; // RandomAdapter: alpha = 2r
    int mantissa = dtype.equals("BF16") ? 7 : 10;
    int minExponent = dtype.equals("BF16") ? -126 : -14;
    for (int o = 0; o < wq.length / in; o++) {
      for (int i = 0; i < in; i++) {
        double d = 0;
        for (int k = 0; k < rank; k++) {
          d += (double) b[o * rank + k] * a[k * in + i];
        }
        double exact = wq0[o * in + i] + scale * d;
        // Rounded once to the nearest half-precision value: within half its spacing (plus float32
        // rounding of the sum). Rounding twice (a half-precision update added to W0) misses this.
        int exponent = Math.max(Math.getExponent((float) exact), minExponent); // subnormals
        double halfUlp = Math.scalb(1.0, exponent - mantissa - 1);
        assertThat(Math.abs(wq[o * in + i] - exact))
            .as("%s[%d, %d]", q, o, i)
            .isLessThanOrEqualTo(halfUlp * 1.001 + Math.ulp((float) exact));
      }
    }
    // Unadapted tensors keep their half-precision bits.
    assertThat(merged.get("model.norm.weight")).containsExactly(w0.get("model.norm.weight"));
    assertThat(merged.get("model.embed_tokens.weight"))
        .containsExactly(w0.get("model.embed_tokens.weight"));
  }

  private Path edited(Path adapter, String name, java.util.function.Consumer<ObjectNode> edit)
      throws IOException {
    Path dir = tmp.resolve(name);
    Files.createDirectories(dir);
    Files.copy(adapter.resolve(PeftAdapter.WEIGHTS_FILE), dir.resolve(PeftAdapter.WEIGHTS_FILE));
    ObjectNode c = (ObjectNode) JSON.readTree(adapter.resolve(PeftAdapter.CONFIG_FILE).toFile());
    edit.accept(c);
    Files.writeString(dir.resolve(PeftAdapter.CONFIG_FILE), c.toString());
    return dir;
  }

  @Test
  void adaptersThatDoNotFitOrAskForMoreThanLoraAreRefusedByNameAndNothingIsWritten()
      throws Exception {
    Path base = Fixtures.model("tiny-llama");
    Path good = adapter("tiny-llama", "good", List.of("q_proj", "v_proj"), false);
    Map<Path, String> refused = new LinkedHashMap<>();
    refused.put(adapter("tiny-gpt2", "gpt2", List.of("c_attn"), false), "unexpected key");
    refused.put(
        adapter("tiny-qwen3-h32", "qwen3", List.of("q_proj"), false), "lora_A must be [r, 32]");
    refused.put(edited(good, "dora", c -> c.put("use_dora", true)), "use_dora=true");
    refused.put(
        edited(good, "saved", c -> c.putArray("modules_to_save").add("lm_head")),
        "modules_to_save=[\"lm_head\"]");
    refused.put(edited(good, "bias", c -> c.put("bias", "all")), "bias=all");
    refused.put(
        edited(good, "pissa", c -> c.put("init_lora_weights", "pissa")),
        "init_lora_weights=pissa (an initialisation that changes W0)");
    refused.put(
        edited(good, "loftq", c -> c.putObject("loftq_config").put("loftq_bits", 4)),
        "loftq_config={\"loftq_bits\":4}");
    refused.put(
        edited(good, "ranks", c -> c.putObject("rank_pattern").put("q_proj", 8)), "rank_pattern=");
    refused.put(edited(good, "future", c -> c.put("shiny_new_feature", 3)), "shiny_new_feature=3");
    refused.put(
        edited(good, "targets", c -> c.putArray("target_modules").add("q_proj")),
        "which target_modules does not select");
    refused.put(
        edited(good, "layers", c -> c.putArray("layers_to_transform").add(0)),
        "layers_to_transform=[0]");
    for (var e : refused.entrySet()) {
      Path out = tmp.resolve("out-" + e.getKey().getFileName());
      assertThatThrownBy(() -> MergedExport.export(base, e.getKey(), out, SMALL_SHARDS))
          .as(e.getValue())
          .isInstanceOf(TrainerException.class)
          .hasMessageContaining(e.getValue())
          .extracting(x -> ((TrainerException) x).exitCode())
          .isEqualTo(ExitCodes.BAD_CONFIG);
      assertThat(out).doesNotExist();
      assertThat(out.resolveSibling("." + out.getFileName() + ".partial")).doesNotExist();
    }
    // Neutral values of the same fields, as PEFT writes them, are accepted.
    Path neutral =
        edited(
            good,
            "neutral",
            c -> {
              c.put("use_dora", false);
              c.putNull("modules_to_save");
              c.putObject("rank_pattern");
              c.putNull("layers_to_transform");
              c.put("lora_bias", false);
              c.putNull("target_parameters");
              c.put("qalora_group_size", 16);
              c.put("use_qalora", false);
              c.put("init_lora_weights", "gaussian");
              c.putObject("loftq_config");
            });
    assertThat(MergedExport.export(base, neutral, tmp.resolve("ok"), SMALL_SHARDS).mergedModules())
        .hasSize(4);
  }

  @Test
  void theCommandLineWritesTheExportAndRefusesBadInputWithExitCode2() throws Exception {
    Path base = Fixtures.model("tiny-llama");
    Path adapter = adapter("tiny-llama", "adapter", List.of("q_proj"), false);
    Path out = tmp.resolve("cli");
    assertThat(
            Main.run(
                new String[] {
                  "export-merged",
                  "--base-model",
                  base.toString(),
                  "--adapter",
                  adapter.toString(),
                  "--out",
                  out.toString(),
                  "--max-shard-size",
                  "20KB",
                  "--base-model-name",
                  "tiny-llama" // what the adapter declares
                }))
        .isZero();
    assertThat(out.resolve(MergedExport.INDEX_FILE)).exists();
    assertThat(
            Main.run(
                new String[] {
                  "export-merged", "--base-model", base.toString(), "--out", out.toString()
                }))
        .isEqualTo(ExitCodes.BAD_CONFIG);
    // Same shapes, another base by name (a fine-tuned sibling would look just the same).
    assertThatThrownBy(
            () ->
                MergedExport.export(
                    base, adapter, tmp.resolve("y"), SMALL_SHARDS, "meta-llama/Llama-3.2-1B"))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining("was trained on base model 'tiny-llama'")
        .hasMessageContaining("not on 'meta-llama/Llama-3.2-1B' (--base-model-name)");
    assertThat(tmp.resolve("y")).doesNotExist();
    assertThat(
            Main.run(
                new String[] {
                  "export-merged",
                  "--base-model",
                  base.toString(),
                  "--adapter",
                  base.toString(),
                  "--out",
                  tmp.resolve("x").toString()
                }))
        .isEqualTo(ExitCodes.BAD_CONFIG);
  }

  @Test
  void shardsCloseWhenTheNextTensorWouldNotFitAndAnOversizedTensorStandsAlone() {
    List<Long> sizes = List.of(4L, 4L, 3L, 12L, 1L);
    assertThat(MergedExport.shards(sizes, Long::longValue, 10))
        .containsExactly(List.of(4L, 4L), List.of(3L), List.of(12L), List.of(1L));
    assertThat(MergedExport.shards(List.<Long>of(), Long::longValue, 10))
        .containsExactly(List.of());
  }
}
