package io.loraops.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.lora.PeftAdapter;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A resumable training state in {@code <outputDir>/checkpoint/}: the adapter (PEFT files), the
 * AdamW moments ({@code optimizer.safetensors}) and {@code trainer_state.json} (step, data
 * position, history, loss scale). It is written to {@code checkpoint.tmp/} first, state file last,
 * then renamed, so a process killed mid-write leaves the previous checkpoint or a complete new one.
 */
public final class Checkpoint {
  static final String DIR = "checkpoint";
  static final String TMP = "checkpoint.tmp";
  static final String STATE = "trainer_state.json";
  static final String OPTIMIZER = "optimizer.safetensors";
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * What a restarted trainer needs besides tensors.
   *
   * @param fingerprint hash of the trial config; a checkpoint of another config is ignored
   * @param step optimizer steps done
   * @param microBatch micro-batches consumed (the data position)
   * @param history per-step records so far
   * @param evals evaluation records so far
   * @param tokens training tokens processed so far
   * @param trainSeconds training wall time so far
   * @param lossScale the loss scale for the next step (null in checkpoints written before fp16: the
   *     precision's initial one)
   */
  public record State(
      String fingerprint,
      long step,
      long microBatch,
      List<Map<String, Object>> history,
      List<Map<String, Object>> evals,
      long tokens,
      double trainSeconds,
      LossScale lossScale) {}

  private Checkpoint() {}

  public static void save(
      Path outDir, CausalLM model, LoraSpec spec, String baseName, AdamW opt, State state)
      throws IOException {
    Path tmp = outDir.resolve(TMP);
    deleteTree(tmp);
    Files.createDirectories(tmp);
    PeftAdapter.write(tmp, model, spec, baseName);
    Map<String, NDArray> moments = new LinkedHashMap<>();
    for (int i = 0; i < opt.params().size(); i++) {
      String name = opt.params().get(i).name();
      moments.put(name + ".exp_avg", opt.expAvg(i));
      moments.put(name + ".exp_avg_sq", opt.expAvgSq(i));
    }
    SafeTensors.write(
        tmp.resolve(OPTIMIZER), moments, Map.of("step", Long.toString(opt.stepCount())));
    Files.writeString(tmp.resolve(STATE), JSON.writeValueAsString(state));
    Path dir = outDir.resolve(DIR);
    deleteTree(dir);
    Files.move(tmp, dir);
  }

  /**
   * Restores the newest complete checkpoint of this config into the model's adapter and the
   * optimizer (in place, so the optimizer keeps its references); empty when there is none.
   */
  public static Optional<State> load(Path outDir, String fingerprint, CausalLM model, AdamW opt)
      throws IOException {
    for (String name : List.of(DIR, TMP)) {
      Path dir = outDir.resolve(name);
      if (!Files.isRegularFile(dir.resolve(STATE))) {
        continue;
      }
      State state = JSON.readValue(dir.resolve(STATE).toFile(), State.class);
      if (!fingerprint.equals(state.fingerprint())) {
        System.err.println(
            "trainer: ignoring " + dir + ": it was written for a different trial config");
        return Optional.empty();
      }
      NDManager m = model.manager();
      SafeTensors adapter = SafeTensors.open(dir.resolve(PeftAdapter.WEIGHTS_FILE));
      SafeTensors moments = SafeTensors.open(dir.resolve(OPTIMIZER));
      for (int i = 0; i < opt.params().size(); i++) {
        AdamW.Param p = opt.params().get(i);
        copy(adapter, p.name(), p.value(), m);
        copy(moments, p.name() + ".exp_avg", opt.expAvg(i), m);
        copy(moments, p.name() + ".exp_avg_sq", opt.expAvgSq(i), m);
      }
      opt.setStepCount(Long.parseLong(moments.metadata().getOrDefault("step", "0")));
      return Optional.of(state);
    }
    return Optional.empty();
  }

  private static void copy(SafeTensors file, String name, NDArray into, NDManager m)
      throws IOException {
    try (NDArray a = file.load(name, m)) {
      if (!a.getShape().equals(into.getShape())) {
        throw new IOException(
            "checkpoint tensor "
                + name
                + " has shape "
                + a.getShape()
                + ", expected "
                + into.getShape());
      }
      into.set(a.toByteBuffer());
    }
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    List<Path> paths = new ArrayList<>();
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(paths::add);
    }
    for (Path p : paths) {
      Files.delete(p);
    }
  }
}
