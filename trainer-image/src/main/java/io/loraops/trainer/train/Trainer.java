package io.loraops.trainer.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.trainer.TrainerException;
import io.loraops.trainer.config.ConfigValidator;
import io.loraops.trainer.data.Batches;
import io.loraops.trainer.data.Batches.Batch;
import io.loraops.trainer.data.Example;
import io.loraops.trainer.data.JsonlDataset;
import io.loraops.trainer.data.TextTokenizer;
import io.loraops.trainer.lora.LoraInjector;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.lora.PeftAdapter;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.Tensors;
import io.loraops.trainer.report.Progress;
import io.loraops.trainer.report.Reports;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * The explicit training loop: load, inject, then per optimizer step {@code
 * gradientAccumulationSteps} forward/backward passes (each step in its own NDScope), AdamW with
 * warmup + cosine, evaluation, checkpoints, and the PEFT adapter, {@code metrics.json} and the
 * termination summary at the end.
 */
public final class Trainer {
  /** Attempts at one optimizer step before a corrupt gradient is reported as a failure. */
  static final int MAX_ATTEMPTS = 3;

  /**
   * Whether a gradient norm can be real: finite and below 1e8 (LoRA gradients of a loss of order 1
   * stay many orders of magnitude below; corrupt ones were NaN or ~1e36).
   */
  static boolean plausible(double gradNorm) {
    return Double.isFinite(gradNorm) && gradNorm < 1e8;
  }

  private final PrintStream progressOut;
  private final Path debugDir;
  private final long stopAfterSteps;

  /**
   * @param progressOut where JSON progress lines go (stdout in the CLI)
   * @param debugDir when set, the initial adapter and every micro-batch are written there (the PEFT
   *     proof replays them); null otherwise
   * @param stopAfterSteps for tests of resume: return (as if killed) after this many steps of this
   *     process; 0 runs to the end
   */
  public Trainer(PrintStream progressOut, Path debugDir, long stopAfterSteps) {
    this.progressOut = progressOut;
    this.debugDir = debugDir;
    this.stopAfterSteps = stopAfterSteps;
  }

  public Trainer(PrintStream progressOut) {
    this(progressOut, null, 0);
  }

  /** Runs the trial; returns the success summary or throws {@link TrainerException}. */
  public TrialSummary train(TrialConfig cfg) throws IOException {
    long started = System.nanoTime();
    ConfigValidator.validate(cfg);
    TrialConfig.Training t = cfg.training();
    Path out = Path.of(cfg.outputDir());
    Files.createDirectories(out);
    Path modelDir = Path.of(cfg.baseModel().path());
    Progress progress = new Progress(progressOut);
    Engine engine = Engine.getEngine("PyTorch");
    Device device = engine.getGpuCount() > 0 ? Device.gpu() : Device.cpu();
    try (NDManager manager = NDManager.newBaseManager(device)) {
      CausalLM model = ModelLoader.load(modelDir, manager, dtype(t.precision()));
      if (t.sequenceLength() > model.config().maxPositions()) {
        throw TrainerException.badConfig(
            "training.sequenceLength "
                + t.sequenceLength()
                + " exceeds the model's "
                + model.config().maxPositions()
                + " positions");
      }
      List<Example> trainSet;
      List<Example> evalSet;
      Map<String, Object> dataInfo = new LinkedHashMap<>();
      try (TextTokenizer tok = TextTokenizer.load(modelDir, model.config())) {
        JsonlDataset.Loaded train =
            JsonlDataset.load(
                Path.of(cfg.dataset().path()), cfg.dataset().format(), tok, t.sequenceLength());
        trainSet = new ArrayList<>(train.examples());
        evalSet = new ArrayList<>();
        int truncated = train.truncated();
        int noLoss = train.withoutLossTokens();
        String vPath = cfg.dataset().validationPath();
        if (vPath != null && !vPath.isBlank()) {
          JsonlDataset.Loaded v =
              JsonlDataset.load(Path.of(vPath), cfg.dataset().format(), tok, t.sequenceLength());
          evalSet.addAll(v.examples());
          truncated += v.truncated();
          noLoss += v.withoutLossTokens();
        } else {
          double split =
              cfg.dataset().validationSplit() == null ? 0 : cfg.dataset().validationSplit();
          int nEval = split > 0 ? (int) Math.max(1, Math.round(trainSet.size() * split)) : 0;
          if (nEval >= trainSet.size()) {
            throw TrainerException.dataError(
                "dataset "
                    + cfg.dataset().path()
                    + ": "
                    + trainSet.size()
                    + " examples are too few for validationSplit "
                    + split);
          }
          List<Integer> idx = new ArrayList<>();
          for (int i = 0; i < trainSet.size(); i++) {
            idx.add(i);
          }
          java.util.Collections.shuffle(idx, new Random(t.seed()));
          List<Integer> held = new ArrayList<>(idx.subList(0, nEval));
          held.sort(null);
          List<Example> kept = new ArrayList<>();
          java.util.Set<Integer> heldSet = new java.util.HashSet<>(held);
          for (int i = 0; i < trainSet.size(); i++) {
            (heldSet.contains(i) ? evalSet : kept).add(trainSet.get(i));
          }
          trainSet = kept;
        }
        dataInfo.put("trainExamples", trainSet.size());
        dataInfo.put("evalExamples", evalSet.size());
        dataInfo.put("truncatedExamples", truncated);
        dataInfo.put("examplesWithoutLossTokens", noLoss);
        dataInfo.put("padId", tok.padId());
        dataInfo.put("eosId", tok.eosId());
      }
      int padId = (int) dataInfo.get("padId");

      TrialConfig.Lora l = cfg.lora();
      LoraSpec spec = new LoraSpec(l.rank(), l.alpha(), l.dropout(), l.targetModules(), l.rsLora());
      List<LoraLinear> layers = LoraInjector.inject(model, spec, t.seed());
      List<AdamW.Param> params = new ArrayList<>();
      long trainable = 0;
      for (LoraLinear layer : layers) {
        params.add(new AdamW.Param(PeftAdapter.keyA(layer), layer.loraA(), 1.0));
        params.add(new AdamW.Param(PeftAdapter.keyB(layer), layer.loraB(), l.loraPlusRatio()));
        trainable += layer.loraA().size() + layer.loraB().size();
      }
      AdamW opt = new AdamW(params, manager, t.weightDecay());
      // Evaluation stays one example per row either way, so eval losses compare across settings.
      Batches batches =
          t.packing()
              ? Batches.packed(trainSet, t.sequenceLength(), t.batchSize(), t.seed(), padId)
              : new Batches(trainSet, t.batchSize(), t.seed(), padId, true);
      List<Batch> evalBatches = Batches.sequential(evalSet, t.batchSize(), padId);
      int accum = t.gradientAccumulationSteps();
      long totalSteps =
          t.maxSteps() != null && t.maxSteps() > 0
              ? t.maxSteps()
              : (long) t.epochs() * ((batches.perEpoch() + accum - 1) / accum);
      String baseName =
          cfg.baseModel().name() != null ? cfg.baseModel().name() : modelDir.toString();

      String fingerprint = fingerprint(cfg);
      long step = 0;
      long microBatch = 0;
      long tokens = 0;
      double trainSeconds = 0;
      List<Map<String, Object>> history = new ArrayList<>();
      List<Map<String, Object>> evals = new ArrayList<>();
      LossScale lossScale = LossScale.forPrecision(t.precision());
      Optional<Checkpoint.State> resumed = Checkpoint.load(out, fingerprint, model, opt);
      if (resumed.isPresent()) {
        Checkpoint.State s = resumed.get();
        step = s.step();
        lossScale = s.lossScale() != null ? s.lossScale() : lossScale;
        microBatch = s.microBatch();
        tokens = s.tokens();
        trainSeconds = s.trainSeconds();
        history.addAll(s.history());
        evals.addAll(s.evals());
        System.err.println("trainer: resuming from checkpoint at step " + step);
      }
      BufferedWriter batchLog = null;
      if (debugDir != null) {
        Files.createDirectories(debugDir);
        if (step == 0) {
          PeftAdapter.write(debugDir.resolve("initial_adapter"), model, spec, baseName);
        }
        batchLog =
            Files.newBufferedWriter(debugDir.resolve("batches.jsonl"), StandardCharsets.UTF_8);
      }

      long stepsThisRun = 0;
      while (step < totalSteps) {
        if (stopAfterSteps > 0 && stepsThisRun == stopAfterSteps) {
          return null;
        }
        long t0 = System.nanoTime();
        double lr =
            t.learningRate()
                * LrSchedule.multiplier(t.scheduler(), step, t.warmupSteps(), totalSteps);
        long firstMicroBatch = microBatch;
        List<Batch> micro = new ArrayList<>();
        int stepTokens = 0;
        for (int k = 0; k < accum; k++) {
          micro.add(batches.get(firstMicroBatch + k));
          stepTokens += micro.get(k).tokens();
        }
        final long seedStep = step;
        // Dropout masks depend only on (seed, step), so a resumed run draws the same ones.
        Accumulated accumulated =
            accumulate(
                engine,
                model,
                manager,
                opt,
                micro,
                step + 1,
                () -> engine.setRandomSeed((int) (t.seed() * 1_000_003L + seedStep)),
                t.gradientCheckpointing(),
                lossScale);
        double loss = accumulated.loss();
        if (!Double.isFinite(loss)) {
          throw new TrainerException(
              ExitCodes.OTHER,
              "training loss became "
                  + loss
                  + " at step "
                  + (step + 1)
                  + "; lower training.learningRate"
                  + (lossScale.dynamic()
                      ? ", or use precision bf16 (the forward pass overflows float16's range)"
                      : ""));
        }
        if (batchLog != null) {
          for (Batch b : micro) {
            logBatch(batchLog, step, b);
          }
          batchLog.flush();
        }
        double gradNorm = opt.step(lr, t.maxGradNorm(), lossScale.value(), accumulated.gradNorm());
        boolean skipped = lossScale.overflowed(gradNorm);
        lossScale = lossScale.next(gradNorm);
        microBatch = firstMicroBatch + accum;
        step++;
        stepsThisRun++;
        double secs = (System.nanoTime() - t0) / 1e9;
        trainSeconds += secs;
        tokens += stepTokens;
        double tps = stepTokens / secs;
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("step", step);
        rec.put("loss", loss);
        rec.put("learningRate", lr);
        rec.put("gradNorm", skipped ? null : gradNorm);
        if (lossScale.dynamic()) {
          // as GradScaler: a step whose gradients overflowed was skipped and the scale halved
          rec.put("lossScale", lossScale.value());
          rec.put("skipped", skipped);
        }
        rec.put("tokensPerSecond", tps);
        history.add(rec);
        progress.emit("step", step, totalSteps, loss, lr, tps, trainSeconds);
        if (t.evalEverySteps() > 0
            && step % t.evalEverySteps() == 0
            && step < totalSteps
            && !evalBatches.isEmpty()) {
          double e = evaluate(model, manager, evalBatches);
          evals.add(Map.of("step", step, "loss", e));
          progress.emit("eval", step, totalSteps, e, null, null, trainSeconds);
        }
        if (t.checkpointEverySteps() > 0
            && (step % t.checkpointEverySteps() == 0 || step == totalSteps)) {
          Checkpoint.save(
              out,
              model,
              spec,
              baseName,
              opt,
              new Checkpoint.State(
                  fingerprint, step, microBatch, history, evals, tokens, trainSeconds, lossScale));
          progress.emit("checkpoint", step, totalSteps, null, null, null, trainSeconds);
        }
      }
      if (batchLog != null) {
        batchLog.close();
      }

      Double evalLoss = null;
      if (!evalBatches.isEmpty()) {
        evalLoss = evaluate(model, manager, evalBatches);
        evals.add(Map.of("step", step, "loss", evalLoss));
        progress.emit("eval", step, totalSteps, evalLoss, null, null, trainSeconds);
      }
      Double best =
          evals.stream()
              .map(e -> ((Number) e.get("loss")).doubleValue())
              .min(Double::compare)
              .orElse(null);
      List<String> files = PeftAdapter.write(out, model, spec, baseName);
      String digest = Reports.digest(out, files);
      long adapterBytes = Reports.bytes(out, files);
      int window = Math.min(10, history.size());
      Double trainLoss =
          window == 0
              ? null
              : history.subList(history.size() - window, history.size()).stream()
                  .mapToDouble(r -> ((Number) r.get("loss")).doubleValue())
                  .average()
                  .orElse(Double.NaN);
      double duration = (System.nanoTime() - started) / 1e9;
      TrialSummary.Metrics metrics =
          new TrialSummary.Metrics(
              trainLoss,
              evalLoss,
              best,
              evalLoss == null ? null : Math.exp(evalLoss),
              step,
              trainSeconds > 0 ? tokens / trainSeconds : null,
              trainable,
              adapterBytes,
              duration);
      writeMetrics(out, cfg, metrics, history, evals, dataInfo, model);
      progress.emit(
          "done", step, totalSteps, trainLoss, null, metrics.tokensPerSecond(), trainSeconds);
      return new TrialSummary(
          TrialConfig.CURRENT_VERSION,
          TrialSummary.SUCCEEDED,
          ExitCodes.OK,
          null,
          null,
          metrics,
          digest,
          files,
          out.toString());
    }
  }

  /**
   * The model's dtype for {@code training.precision}: fp32 everything float32; bf16 and fp16 mixed
   * precision (frozen weights and activations in half precision; LoRA parameters, their gradients,
   * the optimizer state and the loss float32; see {@link CausalLM}); fp16 with {@link LossScale}.
   */
  public static DataType dtype(String precision) {
    return switch (precision) {
      case "fp32" -> DataType.FLOAT32;
      case "bf16" -> DataType.BFLOAT16;
      case "fp16" -> DataType.FLOAT16;
      default ->
          throw TrainerException.badConfig("training.precision " + precision + " is unknown");
    };
  }

  /**
   * Forward and backward over the micro-batches of one optimizer step, leaving their averaged
   * gradients in the adapter; returns the mean of their losses.
   *
   * <p>A backstop: with DJL 0.35.1, {@code NDArray.mul(Number)} and friends hand PyTorch a scalar
   * whose memory a garbage collection may free before the backward pass reads it (see {@link
   * io.loraops.trainer.model.Tensors}); the model avoids them, but should any such fault corrupt a
   * step, its gradient norm is NaN or absurd, and the step, a pure function of (weights, batches,
   * seed), is computed again, up to {@link #MAX_ATTEMPTS} times. {@code reseed} restores the
   * dropout seed before each attempt.
   */
  public static Accumulated accumulate(
      Engine engine,
      CausalLM model,
      NDManager manager,
      AdamW opt,
      List<Batch> micro,
      long stepNumber,
      Runnable reseed) {
    return accumulate(
        engine, model, manager, opt, micro, stepNumber, reseed, false, LossScale.none());
  }

  /**
   * As above; with {@code checkpointing}, blocks are recomputed in the backward pass, and the loss
   * is multiplied by {@code lossScale}'s value before it (the gradients are left scaled: {@link
   * AdamW#step(double, double, double, double)} unscales them). Under dynamic loss scaling a
   * non-finite gradient norm is an overflow, for the optimizer to skip, not a corrupt step to
   * compute again.
   */
  public static Accumulated accumulate(
      Engine engine,
      CausalLM model,
      NDManager manager,
      AdamW opt,
      List<Batch> micro,
      long stepNumber,
      Runnable reseed,
      boolean checkpointing,
      LossScale lossScale) {
    for (int attempt = 1; ; attempt++) {
      reseed.run();
      double lossSum = 0;
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        for (Batch b : micro) {
          lossSum +=
              forwardBackward(
                  engine, model, manager, b, micro.size(), checkpointing, lossScale.value());
        }
      }
      double norm = opt.gradNorm() / lossScale.value();
      if (plausible(norm) || !Double.isFinite(lossSum) || lossScale.overflowed(norm)) {
        return new Accumulated(lossSum / micro.size(), norm);
      }
      if (attempt == MAX_ATTEMPTS) {
        throw new TrainerException(
            ExitCodes.OTHER,
            "gradient norm "
                + norm
                + " at step "
                + stepNumber
                + " in "
                + MAX_ATTEMPTS
                + " attempts; the engine keeps producing corrupt gradients");
      }
      System.err.println(
          "trainer: step "
              + stepNumber
              + ": implausible gradient norm "
              + norm
              + "; computing the step again");
      opt.zeroGradients();
    }
  }

  /**
   * What the backward passes of one optimizer step leave: the mean of the micro-batches' losses,
   * and the global norm of the accumulated gradients, unscaled (the step's optimizer update takes
   * it rather than computing it again: one read of it per step).
   */
  public record Accumulated(double loss, double gradNorm) {}

  /**
   * One micro-batch: forward, loss x lossScale / accum, backward (gradients accumulate). Returns
   * its mean loss.
   */
  public static double forwardBackward(
      Engine engine,
      CausalLM model,
      NDManager manager,
      Batch b,
      int accum,
      boolean checkpointing,
      double lossScale) {
    try (GradientCollector gc = engine.newGradientCollector()) {
      NDArray ids = Tensors.longs(manager, b.ids(), new Shape(b.rows(), b.length())); // [B, T]
      int n = Math.max(1, b.lossTokens());
      float scale = (float) lossScale; // a power of two: exact
      if (checkpointing) {
        return model.lossSumCheckpointed(gc, ids, b.packed(), b.targets(), scale / (n * accum)) / n;
      }
      NDArray nll = model.lossSum(ids, b.packed(), b.targets(), true); // scalar
      gc.backward(nll.div(Tensors.scalar(manager, (float) n * accum / scale)));
      return nll.getFloat() / n;
    }
  }

  /** Mean token loss over {@code batches}, no gradients. */
  public static double evaluate(CausalLM model, NDManager manager, List<Batch> batches) {
    double sum = 0;
    long count = 0;
    for (Batch b : batches) {
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        NDArray ids = Tensors.longs(manager, b.ids(), new Shape(b.rows(), b.length()));
        sum += model.lossSum(ids, b.packed(), b.targets(), false).getFloat();
        count += b.lossTokens();
      }
    }
    return count == 0 ? Double.NaN : sum / count;
  }

  private static void logBatch(BufferedWriter w, long step, Batch b) throws IOException {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("step", step);
    m.put("rows", b.rows());
    m.put("length", b.length());
    m.put("ids", b.ids());
    m.put("targets", b.targets());
    w.write(ContractJson.toJson(m));
    w.newLine();
  }

  private static void writeMetrics(
      Path out,
      TrialConfig cfg,
      TrialSummary.Metrics metrics,
      List<Map<String, Object>> history,
      List<Map<String, Object>> evals,
      Map<String, Object> dataInfo,
      CausalLM model)
      throws IOException {
    ObjectNode root = ContractJson.mapper().createObjectNode();
    root.set("metrics", ContractJson.mapper().valueToTree(metrics));
    root.set("data", ContractJson.mapper().valueToTree(dataInfo));
    ObjectNode m = root.putObject("model");
    m.put("family", model.config().family());
    m.put("parameters", model.config().parameterCount());
    root.set("history", ContractJson.mapper().valueToTree(history));
    root.set("evals", ContractJson.mapper().valueToTree(evals));
    root.set("config", ContractJson.mapper().valueToTree(cfg));
    Files.writeString(out.resolve("metrics.json"), ContractJson.toPrettyJson(root) + "\n");
  }

  /** Identity of a trial's training for resume: the config minus where it writes. */
  static String fingerprint(TrialConfig c) {
    TrialConfig same = c.withOutput(null, null);
    try {
      byte[] h =
          MessageDigest.getInstance("SHA-256")
              .digest(ContractJson.toJson(same).getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(h);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
