package io.loraops.trainer.config;

import io.loraops.contract.TrialConfig;
import io.loraops.trainer.TrainerException;
import io.loraops.trainer.data.JsonlDataset;
import io.loraops.trainer.train.LrSchedule;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks a trial config before anything is loaded, so that a bad value fails in milliseconds with
 * exit code 2 and a message naming the field (e.g. {@code lora.rank must be >= 1, got 0}). The
 * operator validates the same ranges in its CRD schema; this is the trainer's own guard.
 */
public final class ConfigValidator {
  public static final List<String> PRECISIONS = List.of("fp32", "bf16", "fp16");

  private ConfigValidator() {}

  /** Values only: what can be checked without touching the file system. */
  public static void validateValues(TrialConfig c) {
    List<String> p = new ArrayList<>();
    if (c.contractVersion() != TrialConfig.CURRENT_VERSION) {
      p.add(
          "contractVersion must be "
              + TrialConfig.CURRENT_VERSION
              + ", got "
              + c.contractVersion());
    }
    if (c.baseModel() == null || blank(c.baseModel().path())) {
      p.add("baseModel.path is required");
    }
    if (c.dataset() == null || blank(c.dataset().path())) {
      p.add("dataset.path is required");
    } else {
      if (!JsonlDataset.FORMATS.contains(c.dataset().format())) {
        p.add(
            "dataset.format must be one of "
                + JsonlDataset.FORMATS
                + ", got "
                + c.dataset().format());
      }
      Double split = c.dataset().validationSplit();
      if (split != null && (split < 0 || split >= 1 || split.isNaN())) {
        p.add("dataset.validationSplit must be in [0, 1), got " + split);
      }
    }
    if (c.lora() == null) {
      p.add("lora is required");
    } else {
      var l = c.lora();
      if (l.rank() < 1 || l.rank() > 4096) {
        p.add("lora.rank must be in [1, 4096], got " + l.rank());
      }
      if (!(l.alpha() > 0) || Double.isInfinite(l.alpha())) {
        p.add("lora.alpha must be > 0, got " + l.alpha());
      }
      if (!(l.dropout() >= 0 && l.dropout() < 1)) {
        p.add("lora.dropout must be in [0, 1), got " + l.dropout());
      }
      if (l.targetModules() == null
          || l.targetModules().isEmpty()
          || l.targetModules().stream().anyMatch(ConfigValidator::blank)) {
        p.add("lora.targetModules must list at least one module name (or all-linear)");
      } else if (l.targetModules().contains("all-linear") && l.targetModules().size() > 1) {
        p.add("lora.targetModules: all-linear cannot be combined with other names");
      }
      if (!(l.loraPlusRatio() > 0) || Double.isInfinite(l.loraPlusRatio())) {
        p.add("lora.loraPlusRatio must be > 0 (1 disables LoRA+), got " + l.loraPlusRatio());
      }
    }
    if (c.training() == null) {
      p.add("training is required");
    } else {
      var t = c.training();
      if (!(t.learningRate() > 0) || Double.isInfinite(t.learningRate())) {
        p.add("training.learningRate must be > 0, got " + t.learningRate());
      }
      boolean steps = t.maxSteps() != null && t.maxSteps() > 0;
      boolean epochs = t.epochs() != null && t.epochs() > 0;
      if (!steps && !epochs) {
        p.add("training.maxSteps or training.epochs must be > 0");
      }
      if (t.maxSteps() != null && t.maxSteps() < 0) {
        p.add("training.maxSteps must be >= 0, got " + t.maxSteps());
      }
      if (t.epochs() != null && t.epochs() < 0) {
        p.add("training.epochs must be >= 0, got " + t.epochs());
      }
      if (t.batchSize() < 1) {
        p.add("training.batchSize must be >= 1, got " + t.batchSize());
      }
      if (t.gradientAccumulationSteps() < 1) {
        p.add(
            "training.gradientAccumulationSteps must be >= 1, got "
                + t.gradientAccumulationSteps());
      }
      if (t.sequenceLength() < 2) {
        p.add("training.sequenceLength must be >= 2, got " + t.sequenceLength());
      }
      if (t.warmupSteps() < 0) {
        p.add("training.warmupSteps must be >= 0, got " + t.warmupSteps());
      }
      if (!LrSchedule.NAMES.contains(t.scheduler())) {
        p.add("training.scheduler must be one of " + LrSchedule.NAMES + ", got " + t.scheduler());
      }
      if (!(t.weightDecay() >= 0)) {
        p.add("training.weightDecay must be >= 0, got " + t.weightDecay());
      }
      if (!(t.maxGradNorm() >= 0)) {
        p.add("training.maxGradNorm must be >= 0 (0 disables clipping), got " + t.maxGradNorm());
      }
      if (!PRECISIONS.contains(t.precision())) {
        p.add("training.precision must be one of " + PRECISIONS + ", got " + t.precision());
      }
      if (t.checkpointEverySteps() < 0) {
        p.add("training.checkpointEverySteps must be >= 0, got " + t.checkpointEverySteps());
      }
      if (t.evalEverySteps() < 0) {
        p.add("training.evalEverySteps must be >= 0, got " + t.evalEverySteps());
      }
    }
    if (blank(c.outputDir())) {
      p.add("outputDir is required");
    }
    if (!p.isEmpty()) {
      throw TrainerException.badConfig("invalid trial config: " + String.join("; ", p));
    }
  }

  /** Values, then the paths the config points at. */
  public static void validate(TrialConfig c) {
    validateValues(c);
    Path model = Path.of(c.baseModel().path());
    if (!Files.isDirectory(model)) {
      throw TrainerException.badConfig("baseModel.path " + model + " is not a directory");
    }
    if (!Files.isRegularFile(model.resolve("config.json"))) {
      throw TrainerException.badConfig("baseModel.path " + model + " has no config.json");
    }
    if (!Files.isRegularFile(Path.of(c.dataset().path()))) {
      throw TrainerException.badConfig("dataset.path " + c.dataset().path() + " is not a file");
    }
    String v = c.dataset().validationPath();
    if (!blank(v) && !Files.isRegularFile(Path.of(v))) {
      throw TrainerException.badConfig("dataset.validationPath " + v + " is not a file");
    }
  }

  private static boolean blank(String s) {
    return s == null || s.isBlank();
  }
}
