package io.loraops.trainer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.cuda.CudaUtils;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.trainer.data.Batches;
import io.loraops.trainer.data.Batches.Batch;
import io.loraops.trainer.data.ChatFormat;
import io.loraops.trainer.data.Example;
import io.loraops.trainer.data.TextTokenizer;
import io.loraops.trainer.lora.LoraInjector;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.lora.PeftAdapter;
import io.loraops.trainer.lora.RandomAdapter;
import io.loraops.trainer.lora.RankAnalysis;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.SafeTensors;
import io.loraops.trainer.model.TinyModels;
import io.loraops.trainer.train.AdamW;
import io.loraops.trainer.train.LossScale;
import io.loraops.trainer.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/** Commands for development, the PEFT proof and the benchmark; not used by trial pods. */
final class DevCommands {
  private DevCommands() {}

  static int run(String command, String[] a) throws IOException {
    switch (command) {
      case "gen-model" -> {
        try (NDManager m = NDManager.newBaseManager()) {
          TinyModels.write(
              a[0],
              Path.of(a[1]),
              a.length > 2 ? Long.parseLong(a[2]) : 42,
              a.length > 3 ? Path.of(a[3]) : null,
              m);
        }
        return 0;
      }
      case "gen-adapter" -> {
        Path model = Path.of(a[0]);
        RandomAdapter.write(
            model,
            Path.of(a[1]),
            Integer.parseInt(a[2]),
            List.of(a[3].split(",")),
            Long.parseLong(a[4]),
            model.toAbsolutePath().getFileName().toString(), // the server's default served name
            a.length > 5
                ? RandomAdapter.Weights.valueOf(a[5].toUpperCase(Locale.ROOT))
                : RandomAdapter.Weights.RANDOM);
        return 0;
      }
      case "rank-similarity" -> {
        System.out.println(ContractJson.toPrettyJson(rankSimilarity(Path.of(a[0]), Path.of(a[1]))));
        return 0;
      }
      case "chat-render" -> {
        chatRender(Path.of(a[0]), Path.of(a[1]));
        return 0;
      }
      case "bench-serve" -> {
        return ServeBench.run(
            a[0], Path.of(a[1]), Path.of(a[2]), a.length > 3 ? Integer.parseInt(a[3]) : 20);
      }
      case "logits" -> {
        logits(Path.of(a[0]), a[1].equals("-") ? null : Path.of(a[1]), Path.of(a[2]));
        return 0;
      }
      case "bench" -> {
        bench(
            Path.of(a[0]),
            Integer.parseInt(a[1]),
            Integer.parseInt(a[2]),
            Integer.parseInt(a[3]),
            List.of(a[4].split(",")),
            Integer.parseInt(a[5]),
            a.length > 6 ? Double.parseDouble(a[6]) : 0.0,
            a.length > 7 ? Path.of(a[7]) : null);
        return 0;
      }
      default -> throw new IllegalArgumentException(command);
    }
  }

  /**
   * For the chat-template proof: each conversation of {@code conversations} (a JSON array of
   * message arrays, or of {messages, kwargs} with template variables) rendered and tokenized by the
   * model's template, with and without the generation prompt, and (without kwargs) the training ids
   * and loss mask; one JSON array on stdout. A conversation the template refuses (raise_exception)
   * gives {"error": ...}.
   */
  private static void chatRender(Path modelDir, Path conversations) throws IOException {
    ObjectMapper json = new ObjectMapper();
    ArrayNode out = json.createArrayNode();
    try (TextTokenizer tok = TextTokenizer.load(modelDir, -1, -1)) {
      for (JsonNode entry : json.readTree(conversations.toFile())) {
        // a message array, or {messages, kwargs}: template variables besides the messages
        JsonNode conv = entry.isArray() ? entry : entry.get("messages");
        Map<String, Object> kwargs =
            entry.has("kwargs")
                ? json.convertValue(
                    entry.get("kwargs"), new TypeReference<Map<String, Object>>() {})
                : Map.of();
        List<ChatFormat.Message> messages = new ArrayList<>();
        for (JsonNode m : conv) {
          messages.add(new ChatFormat.Message(m.get("role").asText(), m.get("content").asText()));
        }
        ObjectNode o = out.addObject();
        try {
          o.put("text", tok.chatTemplate().render(messages, false, kwargs));
          o.put("prompt_text", tok.chatTemplate().render(messages, true, kwargs));
          ArrayNode promptIds = o.putArray("prompt_ids");
          for (int id : ChatFormat.generationPrompt(tok, messages, kwargs)) {
            promptIds.add(id);
          }
          if (!kwargs.isEmpty()) {
            continue; // the trainer renders training data without extra variables
          }
          ChatFormat.Encoded e = ChatFormat.forTraining(tok, messages);
          ArrayNode ids = o.putArray("ids");
          ArrayNode mask = o.putArray("assistant_mask");
          for (int k = 0; k < e.ids().length; k++) {
            ids.add(e.ids()[k]);
            mask.add(e.learn()[k] ? 1 : 0);
          }
        } catch (TrainerException e) {
          if (e.exitCode() != ExitCodes.DATA_ERROR) {
            throw e; // the engine failing is not a refusal
          }
          o.put("error", e.getMessage());
        }
      }
    }
    System.out.println(json.writeValueAsString(out));
  }

  /** Probe ids [2, 16] (seeded) and the model's logits for them, into one safetensors file. */
  static void logits(Path modelDir, Path adapterDir, Path out) throws IOException {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(modelDir, m);
      if (adapterDir != null) {
        PeftAdapter.read(adapterDir, model);
      }
      int rows = 2;
      int len = 16;
      long[] ids = new long[rows * len];
      float[] idsF = new float[ids.length];
      SplittableRandom r = new SplittableRandom(7);
      for (int i = 0; i < ids.length; i++) {
        ids[i] =
            3 + r.nextInt(Math.min(model.config().vocabSize(), TinyModels.vocabulary().size()) - 3);
        idsF[i] = ids[i];
      }
      NDArray logits = model.forward(m.create(ids, new Shape(rows, len)), false);
      Map<String, NDArray> t = new LinkedHashMap<>();
      t.put("input_ids", m.create(idsF, new Shape(rows, len)));
      t.put("logits", logits);
      SafeTensors.write(out, t, Map.of("format", "pt"));
    }
  }

  /**
   * Timed LoRA training steps on random tokens; prints one JSON line. With {@code lengths} (a file
   * of example lengths, comma-separated), the examples have those lengths and are packed, {@code
   * batch} rows of {@code seq} tokens a step, and tokens/s counts real tokens only.
   */
  static void bench(
      Path modelDir,
      int batch,
      int seq,
      int steps,
      List<String> targets,
      int rank,
      double promptFraction,
      Path lengths)
      throws IOException {
    int prompt = (int) (promptFraction * seq); // leading positions without loss, as in SFT data
    // BENCH_CHECKPOINTING=1: training.gradientCheckpointing (blocks recomputed in backward)
    boolean checkpointing = "1".equals(System.getenv("BENCH_CHECKPOINTING"));
    // BENCH_PRECISION=bf16 or fp16: training.precision bf16 or fp16 (mixed precision)
    String precision = System.getenv().getOrDefault("BENCH_PRECISION", "fp32");
    Engine engine = Engine.getEngine("PyTorch");
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM model = ModelLoader.load(modelDir, m, Trainer.dtype(precision));
      List<LoraLinear> layers =
          LoraInjector.inject(model, new LoraSpec(rank, 2.0 * rank, 0, targets, false), 1);
      List<AdamW.Param> params = new ArrayList<>();
      for (LoraLinear l : layers) {
        params.add(new AdamW.Param(PeftAdapter.keyA(l), l.loraA(), 1));
        params.add(new AdamW.Param(PeftAdapter.keyB(l), l.loraB(), 1));
      }
      AdamW opt = new AdamW(params, m, 0);
      LossScale lossScale = LossScale.forPrecision(precision);
      SplittableRandom r = new SplittableRandom(3);
      int warmup = 2;
      double[] times = new double[steps];
      var os =
          (com.sun.management.OperatingSystemMXBean)
              java.lang.management.ManagementFactory.getOperatingSystemMXBean();
      long cpuStart = 0;
      List<List<Example>> packedRows =
          lengths == null ? null : Batches.pack(examples(lengths, model.config().vocabSize()), seq);
      long realTokens = 0;
      double firstLoss = Double.NaN;
      double lastLoss = Double.NaN;
      // On a GPU, device memory in use (CUDA context + libtorch's caching allocator) after each
      // step: the allocator keeps what it reserved, so the largest value is the step's peak
      // reservation. PEFT's side of bench/gpu measures the same way.
      boolean gpu = m.getDevice().isGpu();
      long peakGpuBytes = -1;
      for (int s = 0; s < warmup + steps; s++) {
        Batch b =
            packedRows != null
                ? packedBatch(packedRows, s, batch)
                : randomBatch(r, model.config().vocabSize(), batch, seq, prompt);
        if (s == warmup) {
          cpuStart = os.getProcessCpuTime();
        }
        long t0 = System.nanoTime();
        // reading the loss waits for the forward and backward passes (CUDA runs asynchronously)
        Trainer.Accumulated accumulated =
            Trainer.accumulate(
                engine, model, m, opt, List.of(b), s + 1, () -> {}, checkpointing, lossScale);
        double loss = accumulated.loss();
        lossScale = lossScale.next(opt.step(1e-4, 1.0, lossScale.value(), accumulated.gradNorm()));
        firstLoss = s == 0 ? loss : firstLoss;
        lastLoss = loss;
        if (gpu) {
          peakGpuBytes = Math.max(peakGpuBytes, CudaUtils.getGpuMemory(m.getDevice()).getUsed());
        }
        if (s >= warmup) {
          times[s - warmup] = (System.nanoTime() - t0) / 1e9;
          realTokens += b.tokens();
        }
      }
      double total = Arrays.stream(times).sum();
      Map<String, Object> res = new LinkedHashMap<>();
      res.put("impl", "java-djl");
      res.put("gradient_checkpointing", checkpointing);
      res.put("precision", precision);
      res.put("prompt_fraction", promptFraction);
      res.put("params", model.config().parameterCount());
      res.put("tokens_per_s", batch * seq * steps / total);
      if (packedRows != null) {
        res.put("real_tokens_per_s", realTokens / total);
      }
      res.put("step_s_median", Arrays.stream(times).sorted().toArray()[steps / 2]);
      // CPU seconds per step: robust to other processes on a shared machine, unlike wall time.
      res.put("cpu_s_per_step", (os.getProcessCpuTime() - cpuStart) / 1e9 / steps);
      res.put("peak_rss_mb", peakRssMb());
      res.put("threads", System.getProperty("ai.djl.pytorch.num_threads"));
      res.put("device", m.getDevice().toString());
      res.put("engine_version", engine.getVersion());
      res.put("loss_first", firstLoss);
      res.put("loss_last", lastLoss);
      if (gpu) {
        res.put("peak_gpu_mb", peakGpuBytes / 1048576.0);
      }
      System.out.println(ContractJson.toJson(res));
    }
  }

  /** Step {@code s}'s rows of the packed examples, taken in turn. */
  private static Batch packedBatch(List<List<Example>> packedRows, int s, int batch) {
    List<List<Example>> rows = new ArrayList<>();
    for (int i = 0; i < batch; i++) {
      rows.add(packedRows.get((s * batch + i) % packedRows.size()));
    }
    return Batches.packRows(rows, 0);
  }

  /** Full rows of random tokens, the first {@code prompt} positions of each without loss. */
  private static Batch randomBatch(SplittableRandom r, int vocab, int batch, int seq, int prompt) {
    long[] ids = new long[batch * seq];
    long[] targets = new long[batch * seq];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = r.nextInt(vocab);
    }
    int withLoss = 0;
    for (int i = 0; i < ids.length; i++) {
      targets[i] = (i + 1) % seq == 0 || i % seq < prompt ? -100 : ids[i + 1];
      withLoss += targets[i] >= 0 ? 1 : 0;
    }
    return new Batch(ids, targets, batch, seq, batch * seq, withLoss, null);
  }

  /** Examples of the lengths in {@code file} (comma-separated), random ids, loss everywhere. */
  private static List<Example> examples(Path file, int vocab) throws IOException {
    SplittableRandom r = new SplittableRandom(5);
    List<Example> out = new ArrayList<>();
    for (String n : Files.readString(file).trim().split(",")) {
      int[] ids = new int[Integer.parseInt(n.trim())];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = r.nextInt(vocab);
      }
      out.add(new Example(ids, ids));
    }
    return out;
  }

  /**
   * The LoRA paper's subspace similarity between two PEFT adapters of the same base model, per
   * adapted module type (q_proj, ...): {@link RankAnalysis#compare}, as {"module": {"layers": n,
   * "phi": [[...]]}} with phi rounded to 4 decimals.
   */
  static Map<String, Object> rankSimilarity(Path first, Path second) throws IOException {
    Map<String, Object> out = new LinkedHashMap<>();
    RankAnalysis.compare(first, second)
        .forEach(
            (module, similarity) -> {
              double[][] phi = similarity.phi();
              double[][] rounded = new double[phi.length][phi[0].length];
              for (int i = 0; i < phi.length; i++) {
                for (int j = 0; j < phi[0].length; j++) {
                  rounded[i][j] = Math.round(phi[i][j] * 1e4) / 1e4;
                }
              }
              out.put(module, Map.of("layers", similarity.layers(), "phi", rounded));
            });
    return out;
  }

  static double peakRssMb() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
      }
    }
    return -1;
  }
}
