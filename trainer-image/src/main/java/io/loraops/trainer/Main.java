package io.loraops.trainer;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.PublishConfig;
import io.loraops.contract.PublishSummary;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.trainer.data.TextTokenizer;
import io.loraops.trainer.lora.MergedExport;
import io.loraops.trainer.model.TinyModels;
import io.loraops.trainer.publish.VersionPublisher;
import io.loraops.trainer.report.Reports;
import io.loraops.trainer.serve.ServeMain;
import io.loraops.trainer.serve.ServeOptions;
import io.loraops.trainer.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The trainer's command line.
 *
 * <pre>
 * java -jar lora-trainer.jar train &lt;trial.json&gt;     the trial pod's entrypoint
 * java -jar lora-trainer.jar publish &lt;publish.json&gt; the publish pod's: v&lt;N&gt;/, manifest, rank analysis
 * java -jar lora-trainer.jar gen-model &lt;preset&gt; &lt;dir&gt; [seed [tokenizerDir]]   seeded HF-layout model
 * java -jar lora-trainer.jar proof-train &lt;trial.json&gt; &lt;dumpDir&gt;   train, dumping init + batches
 * java -jar lora-trainer.jar logits &lt;modelDir&gt; &lt;adapterDir|-&gt; &lt;out.safetensors&gt;
 * java -jar lora-trainer.jar bench &lt;modelDir&gt; &lt;batch&gt; &lt;seq&gt; &lt;steps&gt; &lt;targets&gt; &lt;rank&gt;
 * java -jar lora-trainer.jar serve --model &lt;dir&gt; [--served-model-name N] [--port 8000] ...
 * java -jar lora-trainer.jar export-merged --base-model &lt;dir&gt; --adapter &lt;dir&gt; --out &lt;dir&gt; [--max-shard-size 5GB] [--base-model-name N]
 * java -jar lora-trainer.jar gen-adapter &lt;modelDir&gt; &lt;outDir&gt; &lt;rank&gt; &lt;targets&gt; &lt;seed&gt; [random|random_rslora|nan]
 * java -jar lora-trainer.jar bench-serve &lt;url&gt; &lt;adapterV1&gt; &lt;adapterV2&gt; [rounds]
 * java -jar lora-trainer.jar chat-render &lt;modelDir&gt; &lt;conversations.json&gt;   chat template proof
 * java -jar lora-trainer.jar rank-similarity &lt;adapterDir&gt; &lt;adapterDir&gt;   LoRA paper's phi per module
 * java -jar lora-trainer.jar warm-up      unpack the native libraries (the image build runs it)
 * </pre>
 *
 * Exit codes are those of {@link ExitCodes}; {@code train} and {@code publish} also write the
 * termination message.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs a command and returns its exit code (tests call this in-process). */
  public static int run(String[] args) {
    configureEngine();
    if (args.length == 0) {
      return usage("no command");
    }
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    try {
      switch (args[0]) {
        case "train":
          return rest.length == 1
              ? train(Path.of(rest[0]), null)
              : usage("train takes one argument");
        case "publish":
          return rest.length == 1 ? publish(Path.of(rest[0])) : usage("publish takes one argument");
        case "proof-train":
          return rest.length == 2
              ? train(Path.of(rest[0]), Path.of(rest[1]))
              : usage("proof-train <config> <dumpDir>");
        case "serve":
          return ServeMain.run(rest, System.out);
        case "export-merged":
          return exportMerged(rest);
        case "warm-up":
          return rest.length == 0 ? warmUp() : usage("warm-up takes no argument");
        case "gen-model":
        case "gen-adapter":
        case "logits":
        case "bench":
        case "bench-serve":
        case "chat-render":
        case "rank-similarity":
          return DevCommands.run(args[0], rest);
        default:
          return usage("unknown command " + args[0]);
      }
    } catch (TrainerException e) {
      System.err.println("trainer: " + e.getMessage());
      return e.exitCode();
    } catch (Exception e) {
      e.printStackTrace();
      return ExitCodes.OTHER;
    }
  }

  private static int usage(String why) {
    System.err.println(
        "trainer: "
            + why
            + "\nusage: lora-trainer train <trial.json>\n"
            + "       lora-trainer publish <publish.json>\n"
            + "       lora-trainer gen-model <preset> <dir> [seed [tokenizerDir]]\n"
            + "       lora-trainer warm-up\n"
            + "       lora-trainer proof-train <trial.json> <dumpDir>\n"
            + "       lora-trainer logits <modelDir> <adapterDir|-> <out.safetensors>\n"
            + "       lora-trainer bench <modelDir> <batch> <seq> <steps> <targets> <rank>\n"
            + "       lora-trainer "
            + ServeOptions.USAGE
            + "\n"
            + "       lora-trainer "
            + EXPORT_MERGED_USAGE
            + "\n"
            + "       lora-trainer gen-adapter <modelDir> <outDir> <rank> <targets> <seed> [random|random_rslora|nan]\n"
            + "       lora-trainer bench-serve <url> <adapterV1> <adapterV2> [rounds]\n"
            + "       lora-trainer chat-render <modelDir> <conversations.json>\n"
            + "       lora-trainer rank-similarity <adapterDir> <adapterDir>");
    return ExitCodes.BAD_CONFIG;
  }

  static final String EXPORT_MERGED_USAGE =
      "export-merged --base-model <dir> --adapter <dir> --out <dir> [--max-shard-size 5GB]"
          + " [--base-model-name NAME]";

  /**
   * {@code export-merged}: the base with the adapter merged in, as a Hugging Face model folder
   * ({@link MergedExport}); prints one JSON line (out, files, digest, merged modules).
   */
  static int exportMerged(String[] args) throws IOException {
    Map<String, String> opts = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String key = args[i];
      if (!List.of("--base-model", "--adapter", "--out", "--max-shard-size", "--base-model-name")
              .contains(key)
          || i + 1 >= args.length) {
        return usage("export-merged: unknown option or missing value: " + key);
      }
      opts.put(key, args[++i]);
    }
    for (String required : List.of("--base-model", "--adapter", "--out")) {
      if (!opts.containsKey(required)) {
        return usage("export-merged needs " + required);
      }
    }
    long shard =
        opts.containsKey("--max-shard-size")
            ? parseSize(opts.get("--max-shard-size"))
            : MergedExport.DEFAULT_MAX_SHARD_BYTES;
    MergedExport.Result r =
        MergedExport.export(
            Path.of(opts.get("--base-model")),
            Path.of(opts.get("--adapter")),
            Path.of(opts.get("--out")),
            shard,
            opts.get("--base-model-name"));
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("event", r.existing() ? "merged-export-exists" : "merged-export-written");
    line.put("out", r.out().toString());
    line.put("digest", r.digest());
    line.put("files", r.files());
    line.put("mergedModules", r.mergedModules().size());
    System.out.println(new ObjectMapper().writeValueAsString(line));
    return 0;
  }

  /**
   * A size as transformers' {@code max_shard_size} takes it: bytes, or a number with KB, MB, GB
   * (powers of 1000) or KiB, MiB, GiB (powers of 1024).
   */
  static long parseSize(String s) {
    Matcher m = Pattern.compile("(\\d+)\\s*([KMG]i?B)?").matcher(s.trim());
    if (!m.matches()) {
      throw TrainerException.badConfig(
          "--max-shard-size " + s + ": expected bytes or a number with KB, MB, GB, KiB, MiB, GiB");
    }
    long n = Long.parseLong(m.group(1));
    String unit = m.group(2) == null ? "B" : m.group(2);
    long factor =
        switch (unit) {
          case "KB" -> 1_000L;
          case "MB" -> 1_000_000L;
          case "GB" -> 1_000_000_000L;
          case "KiB" -> 1L << 10;
          case "MiB" -> 1L << 20;
          case "GiB" -> 1L << 30;
          default -> 1L;
        };
    if (n <= 0) {
      throw TrainerException.badConfig("--max-shard-size must be positive, got " + s);
    }
    return Math.multiplyExact(n, factor);
  }

  /**
   * Offline engine settings, unless given on the command line: natives from the jars only, PyTorch
   * as engine (the tokenizers jar registers one too), and intra-op threads = the CPUs this
   * container may use (the JVM reads the cgroup limit); threads are fixed once the engine starts.
   */
  static void configureEngine() {
    System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
    System.setProperty(
        "ai.djl.default_engine", System.getProperty("ai.djl.default_engine", "PyTorch"));
    String cpus = Integer.toString(Runtime.getRuntime().availableProcessors());
    System.setProperty(
        "ai.djl.pytorch.num_threads", System.getProperty("ai.djl.pytorch.num_threads", cpus));
    System.setProperty(
        "ai.djl.pytorch.num_interop_threads",
        System.getProperty("ai.djl.pytorch.num_interop_threads", "1"));
  }

  /**
   * Unpacks both native libraries (PyTorch's and the tokenizers') into DJL's cache by writing a
   * tiny model and loading its tokenizer. The image build runs this: at run time the root file
   * system is read-only and nothing may be downloaded, so a library the build did not unpack cannot
   * be loaded.
   */
  static int warmUp() throws IOException {
    Path dir = Files.createTempDirectory("lora-warm-up");
    try (NDManager manager = NDManager.newBaseManager()) {
      TinyModels.write("tiny-llama-h32", dir, 1, null, manager);
    }
    try (TextTokenizer tokenizer = TextTokenizer.load(dir, -1, -1)) {
      System.out.println(
          "warm-up: engine and tokenizers ready (" + tokenizer.getClass().getSimpleName() + ")");
    }
    try (var files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    }
    return 0;
  }

  /** The trial pod's path: never throws; every outcome ends in a termination message. */
  static int train(Path configFile, Path debugDir) {
    Path termination = Path.of(TrialConfig.DEFAULT_TERMINATION_MESSAGE_PATH);
    TrialSummary summary;
    try {
      TrialConfig cfg;
      try {
        cfg = ContractJson.readConfig(Files.readString(configFile));
      } catch (IOException e) {
        throw TrainerException.badConfig(
            "cannot read trial config " + configFile + ": " + e.getMessage());
      }
      if (cfg == null) {
        throw TrainerException.badConfig("trial config " + configFile + " is empty");
      }
      if (cfg.terminationMessagePath() != null && !cfg.terminationMessagePath().isBlank()) {
        termination = Path.of(cfg.terminationMessagePath());
      }
      summary = new Trainer(System.out, debugDir, 0).train(cfg);
    } catch (TrainerException e) {
      summary = TrialSummary.failure(e.exitCode(), ExitCodes.reason(e.exitCode()), e.getMessage());
    } catch (OutOfMemoryError e) {
      summary = oom("Java heap: " + e.getMessage());
    } catch (EngineException e) {
      summary = isNativeOom(e) ? oom(e.getMessage()) : other(e);
    } catch (Exception e) {
      summary = other(e);
    }
    if (!summary.succeeded()) {
      System.err.println("trainer: " + summary.reason() + ": " + summary.message());
    }
    Reports.writeTermination(termination, summary);
    return summary.exitCode();
  }

  /**
   * The publish pod's path ({@link VersionPublisher}): never throws; every outcome ends in a
   * termination message, which the operator verifies before the version counts.
   */
  static int publish(Path configFile) {
    Path termination = Path.of(TrialConfig.DEFAULT_TERMINATION_MESSAGE_PATH);
    PublishSummary summary;
    try {
      PublishConfig cfg;
      try {
        cfg = ContractJson.readPublishConfig(Files.readString(configFile));
      } catch (IOException e) {
        throw TrainerException.badConfig(
            "cannot read publish config " + configFile + ": " + e.getMessage());
      }
      if (cfg.terminationMessagePath() != null && !cfg.terminationMessagePath().isBlank()) {
        termination = Path.of(cfg.terminationMessagePath());
      }
      summary =
          new VersionPublisher(
                  (base, adapter, out) ->
                      run(
                          new String[] {
                            "export-merged",
                            "--base-model",
                            base.toString(),
                            "--adapter",
                            adapter.toString(),
                            "--out",
                            out.toString()
                          }))
              .publish(cfg);
    } catch (VersionPublisher.PublishException e) {
      summary = e.summary();
    } catch (TrainerException e) {
      summary =
          PublishSummary.failure(e.exitCode(), ExitCodes.reason(e.exitCode()), e.getMessage());
    } catch (Exception e) {
      e.printStackTrace();
      summary =
          PublishSummary.failure(ExitCodes.OTHER, ExitCodes.reason(ExitCodes.OTHER), e.toString());
    }
    if (!summary.succeeded()) {
      System.err.println("publish: " + summary.reason() + ": " + summary.message());
    } else {
      System.out.println("publish: " + summary.versionPath() + " " + summary.digest());
    }
    Reports.writeTermination(termination, Reports.terminationMessage(summary));
    return summary.exitCode();
  }

  static boolean isNativeOom(Throwable e) {
    String m = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
    return m.contains("out of memory")
        || m.contains("can't allocate memory")
        || m.contains("failed to allocate");
  }

  private static TrialSummary oom(String message) {
    return TrialSummary.failure(
        ExitCodes.OUT_OF_MEMORY,
        ExitCodes.reason(ExitCodes.OUT_OF_MEMORY),
        "out of memory: "
            + message
            + "; lower training.batchSize or training.sequenceLength, or request more memory");
  }

  private static TrialSummary other(Exception e) {
    e.printStackTrace();
    return TrialSummary.failure(ExitCodes.OTHER, ExitCodes.reason(ExitCodes.OTHER), e.toString());
  }
}
