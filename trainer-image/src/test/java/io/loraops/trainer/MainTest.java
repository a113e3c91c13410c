package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.trainer.model.SafeTensors;
import io.loraops.trainer.report.Reports;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI end to end, in process: files, termination message, exit codes and their messages. */
class MainTest {
  @TempDir Path tmp;

  private TrialSummary termination(Path out) throws Exception {
    String msg = Files.readString(out.resolve("termination-log"));
    assertThat(msg.getBytes(StandardCharsets.UTF_8).length)
        .isLessThan(Reports.MAX_TERMINATION_BYTES);
    return ContractJson.parseSummary(msg).orElseThrow();
  }

  private int run(TrialConfig c) throws Exception {
    return Main.run(
        new String[] {"train", Fixtures.writeConfig(tmp.resolve("trial.json"), c).toString()});
  }

  @Test
  void trainWritesPeftFilesMetricsAndTerminationMessage() throws Exception {
    Path out = tmp.resolve("out");
    TrialConfig c =
        Fixtures.config(
            Fixtures.model("tiny-llama"),
            Fixtures.countingData(tmp, 30, 1),
            out,
            List.of("q_proj", "v_proj"),
            6);
    assertThat(run(c)).isEqualTo(ExitCodes.OK);
    assertThat(out.resolve("adapter_config.json")).exists();
    assertThat(out.resolve("adapter_model.safetensors")).exists();
    assertThat(out.resolve("metrics.json")).exists();
    TrialSummary s = termination(out);
    assertThat(s.succeeded()).isTrue();
    assertThat(s.files()).containsExactly("adapter_config.json", "adapter_model.safetensors");
    assertThat(s.digest()).isEqualTo(Reports.digest(out, s.files())).startsWith("sha256:");
    assertThat(s.metrics().steps()).isEqualTo(6);
    assertThat(s.metrics().trainableParameters())
        .isEqualTo(2L * 2 * 4 * (32 + 32) - 2L * 4 * (32 - 16));
    assertThat(s.metrics().adapterBytes()).isEqualTo(Reports.bytes(out, s.files()));
    assertThat(s.metrics().evalLoss()).isNotNull();
    var cfg = ContractJson.mapper().readTree(out.resolve("adapter_config.json").toFile());
    assertThat(cfg.get("peft_type").asText()).isEqualTo("LORA");
    assertThat(cfg.get("task_type").asText()).isEqualTo("CAUSAL_LM");
    assertThat(cfg.get("r").asInt()).isEqualTo(4);
    assertThat(cfg.get("lora_alpha").asInt()).isEqualTo(8);
    assertThat(cfg.get("bias").asText()).isEqualTo("none");
    SafeTensors st = SafeTensors.open(out.resolve("adapter_model.safetensors"));
    assertThat(st.metadata()).containsEntry("format", "pt");
    assertThat(st.entries())
        .containsKey("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    assertThat(
            st.entries()
                .get("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")
                .shape())
        .containsExactly(16, 4);
  }

  @Test
  void aChatTemplateTheEngineCannotRenderExitsTwoAtStartNamingItsLine() throws Exception {
    Path model = tmp.resolve("model");
    Files.createDirectories(model);
    try (var files = Files.list(Fixtures.model("tiny-llama"))) {
      for (Path f : files.toList()) {
        Files.copy(f, model.resolve(f.getFileName()));
      }
    }
    Files.writeString(
        model.resolve("chat_template.jinja"),
        "{% for m in messages %}\n{{ m.content.casefold() }}\n{% endfor %}\n");
    Files.delete(model.resolve("tokenizer_config.json"));
    Path out = tmp.resolve("out");
    Files.createDirectories(out);
    TrialConfig c =
        Fixtures.config(model, Fixtures.countingData(tmp, 10, 1), out, List.of("q_proj"), 2);
    assertFails(c, ExitCodes.BAD_CONFIG, "chat_template.jinja line 2");
    assertThat(out.resolve("metrics.json")).doesNotExist();
  }

  private void assertFails(TrialConfig c, int code, String message) throws Exception {
    assertThat(run(c)).isEqualTo(code);
    TrialSummary s = termination(Path.of(c.outputDir()));
    assertThat(s.outcome()).isEqualTo(TrialSummary.FAILED);
    assertThat(s.exitCode()).isEqualTo(code);
    assertThat(s.reason()).isEqualTo(ExitCodes.reason(code));
    assertThat(s.message()).contains(message);
  }

  private static TrialConfig with(
      TrialConfig c, TrialConfig.Lora l, TrialConfig.Dataset d, String modelPath) {
    return c.withBaseModel(new TrialConfig.BaseModel("m", modelPath, null))
        .withDataset(d)
        .withLora(l);
  }

  @Test
  void badValuesExitTwoNamingTheField() throws Exception {
    Path out = tmp.resolve("out");
    Files.createDirectories(out);
    TrialConfig c =
        Fixtures.config(
            Fixtures.model("tiny-gpt2"),
            Fixtures.countingData(tmp, 10, 1),
            out,
            List.of("c_attn"),
            2);
    assertFails(
        with(
            c,
            new TrialConfig.Lora(0, 8, 0, List.of("c_attn"), false, 1),
            c.dataset(),
            c.baseModel().path()),
        ExitCodes.BAD_CONFIG,
        "lora.rank");
    assertFails(
        with(
            c,
            new TrialConfig.Lora(4, 8, 0, List.of("q_proj"), false, 1),
            c.dataset(),
            c.baseModel().path()),
        ExitCodes.BAD_CONFIG,
        "lora.targetModules: 'q_proj' matches no linear layer");
    assertFails(
        with(c, c.lora(), c.dataset(), tmp.resolve("nope").toString()),
        ExitCodes.BAD_CONFIG,
        "baseModel.path");
    assertFails(
        with(
            c,
            c.lora(),
            new TrialConfig.Dataset(tmp.resolve("none.jsonl").toString(), "text", null, null),
            c.baseModel().path()),
        ExitCodes.BAD_CONFIG,
        "dataset.path");
  }

  @Test
  void unreadableConfigExitsTwo() throws Exception {
    Path f = tmp.resolve("bad.json");
    Files.writeString(f, "{\"contractVersion\": ");
    assertThat(Main.run(new String[] {"train", f.toString()})).isEqualTo(ExitCodes.BAD_CONFIG);
    assertThat(Main.run(new String[] {"train", tmp.resolve("missing.json").toString()}))
        .isEqualTo(ExitCodes.BAD_CONFIG);
    assertThat(Main.run(new String[] {"frobnicate"})).isEqualTo(ExitCodes.BAD_CONFIG);
  }

  @Test
  void missingOrMisShapedWeightExitsTwoNamingIt() throws Exception {
    Path model = tmp.resolve("broken-model");
    Files.createDirectories(model);
    Path src = Fixtures.model("tiny-llama");
    for (String f : List.of("config.json", "tokenizer.json")) {
      Files.copy(src.resolve(f), model.resolve(f));
    }
    try (NDManager m = NDManager.newBaseManager()) {
      SafeTensors st = SafeTensors.open(src.resolve("model.safetensors"));
      Map<String, NDArray> w = new LinkedHashMap<>();
      for (String k : st.entries().keySet()) {
        w.put(k, st.load(k, m));
      }
      w.remove("model.layers.1.mlp.up_proj.weight");
      w.put("model.norm.weight", m.zeros(new ai.djl.ndarray.types.Shape(31)));
      w.put("model.layers.0.extra.weight", m.zeros(new ai.djl.ndarray.types.Shape(2)));
      SafeTensors.write(model.resolve("model.safetensors"), w, Map.of());
    }
    Path out = tmp.resolve("out");
    TrialConfig c =
        Fixtures.config(model, Fixtures.countingData(tmp, 10, 1), out, List.of("q_proj"), 2);
    assertFails(c, ExitCodes.BAD_CONFIG, "missing weight model.layers.1.mlp.up_proj.weight");
    TrialSummary s = termination(out);
    assertThat(s.message()).contains("weight model.norm.weight has shape (31), expected (32)");
    assertThat(s.message()).contains("unexpected weight model.layers.0.extra.weight");
  }

  @Test
  void malformedDataExitsThreeWithTheLineNumber() throws Exception {
    Path data = tmp.resolve("d.jsonl");
    Files.write(
        data, List.of("{\"text\": \"one two\"}", "{\"text\": \"three\"}", "{\"txt\": \"four\"}"));
    Path out = tmp.resolve("out");
    TrialConfig c = Fixtures.config(Fixtures.model("tiny-gpt2"), data, out, List.of("c_attn"), 2);
    assertFails(c, ExitCodes.DATA_ERROR, "line 3: missing field 'text'");
    Files.write(data, List.of(""));
    assertFails(c, ExitCodes.DATA_ERROR, "no examples");
  }

  @Test
  void nativeAllocationFailuresCountAsOutOfMemory() {
    assertThat(
            Main.isNativeOom(
                new ai.djl.engine.EngineException(
                    "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes")))
        .isTrue();
    assertThat(
            Main.isNativeOom(
                new ai.djl.engine.EngineException(
                    "CUDA out of memory. Tried to allocate 2.00 GiB")))
        .isTrue();
    assertThat(Main.isNativeOom(new ai.djl.engine.EngineException("shape mismatch"))).isFalse();
  }

  @Test
  void maxShardSizeParsesAsTransformersWritesIt() {
    assertThat(Main.parseSize("5GB")).isEqualTo(5_000_000_000L);
    assertThat(Main.parseSize("20KB")).isEqualTo(20_000L);
    assertThat(Main.parseSize("2MiB")).isEqualTo(2L << 20);
    assertThat(Main.parseSize("1234")).isEqualTo(1234L);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Main.parseSize("5 TB"))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining("--max-shard-size");
  }
}
