package io.loraops.trainer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.contract.ContractJson;
import io.loraops.contract.TrialConfig;
import io.loraops.trainer.model.TinyModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

/** Tiny seeded models and datasets shared by the tests (generated once per JVM under target/). */
public final class Fixtures {
  public static final Path ROOT = Path.of("target", "test-fixtures").toAbsolutePath();
  public static final List<String> WORDS =
      List.of(
          "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten");

  private Fixtures() {}

  /** The model folder of a {@link TinyModels} preset, seed 1. */
  public static synchronized Path model(String preset) throws IOException {
    Path dir = ROOT.resolve("models").resolve(preset);
    if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      try (NDManager m = NDManager.newBaseManager()) {
        TinyModels.write(preset, dir, 1, m);
      }
    }
    return dir;
  }

  /** {@code n} seeded token ids in [3, vocab), away from the special tokens: probe inputs. */
  public static long[] probeIds(int n, int vocab) {
    SplittableRandom r = new SplittableRandom(5);
    long[] ids = new long[n];
    for (int i = 0; i < n; i++) {
      ids[i] = 3 + r.nextInt(vocab - 3);
    }
    return ids;
  }

  /**
   * A learnable text task: counting sequences ("three four five six ...") from random starts, so
   * the next word is a function of the current one.
   */
  public static Path countingData(Path dir, int n, long seed) throws IOException {
    Files.createDirectories(dir);
    Random r = new Random(seed);
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int start = r.nextInt(5);
      lines.add("{\"text\": \"" + String.join(" ", WORDS.subList(start, start + 6)) + "\"}");
    }
    Path file = dir.resolve("train.jsonl");
    Files.write(file, lines);
    return file;
  }

  /** The golden trial config with local paths and small numbers. */
  public static TrialConfig config(Path model, Path data, Path out, List<String> targets, int steps)
      throws IOException {
    TrialConfig g = ContractJson.readConfig(Files.readString(golden()));
    return new TrialConfig(
        g.contractVersion(),
        g.job(),
        g.trial(),
        g.trialIndex(),
        new TrialConfig.BaseModel("tiny", model.toString(), null),
        new TrialConfig.Dataset(data.toString(), "text", 0.1, null),
        new TrialConfig.Lora(4, 8, 0.0, targets, false, 1.0),
        new TrialConfig.Training(
            1e-2, null, steps, 4, 1, 16, 2, "cosine", 0.0, 1.0, 42, "fp32", 0, 0, false, false),
        out.toString(),
        out.resolve("termination-log").toString());
  }

  public static Path golden() {
    return Path.of(System.getProperty("trainer.golden", "../contract/src/test/resources/golden"))
        .resolve("trial-config.json");
  }

  public static Path writeConfig(Path file, TrialConfig c) throws IOException {
    Files.createDirectories(file.getParent());
    Files.writeString(file, ContractJson.toPrettyJson(c));
    return file;
  }

  public static float[] floats(NDArray a) {
    return a.toFloatArray();
  }

  public static ObjectMapper json() {
    return new ObjectMapper();
  }

  /** Each layer's LoRA gradients (A then B) as floats, then zeroed for the next backward pass. */
  public static java.util.List<float[]> takeGradients(
      java.util.List<io.loraops.trainer.lora.LoraLinear> layers) {
    java.util.List<float[]> out = new java.util.ArrayList<>();
    for (var l : layers) {
      out.add(l.loraA().getGradient().toFloatArray());
      out.add(l.loraB().getGradient().toFloatArray());
      l.loraA().getGradient().muli(0f);
      l.loraB().getGradient().muli(0f);
    }
    return out;
  }
}
