package io.loraops.operator.trainer;

import io.loraops.contract.TrialConfig;
import io.loraops.operator.api.v1alpha1.Dataset;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.LoraParameters;
import io.loraops.operator.api.v1alpha1.Training;
import io.loraops.operator.support.Names;
import io.loraops.operator.sweep.Trial;
import java.util.List;

/** Maps a LoraJob and one trial onto the trainer contract, resolving URIs to pod paths. */
public final class TrialConfigs {

  /** Held-out fraction when a dataset gives neither validationSplit nor validationUri. */
  static final double DEFAULT_VALIDATION_SPLIT = 0.1;

  private TrialConfigs() {}

  /** Where the trial writes, relative to the output root: adapter/trials/run/trial. */
  public static String outputPath(LoraJob job, Trial trial) {
    return outputPath(job, trial.name());
  }

  static String outputPath(LoraJob job, String trial) {
    return job.getSpec().getAdapter() + "/trials/" + Names.runId(job) + "/" + trial;
  }

  /** A published version's folder, relative to the output root: adapter/v&lt;N&gt;. */
  static String versionPath(LoraJob job, int version) {
    return job.getSpec().getAdapter() + "/v" + version;
  }

  /** The storage URI of a published version's folder. */
  public static String versionUri(LoraJob job, int version) {
    return StorageUri.parse(job.getSpec().getOutput().getUri()).child(versionPath(job, version));
  }

  /** The storage URI of the trial's adapter folder, as recorded in status and versions. */
  public static String artifactUri(LoraJob job, Trial trial) {
    return StorageUri.parse(job.getSpec().getOutput().getUri()).child(outputPath(job, trial));
  }

  static TrialConfig forTrial(LoraJob job, Trial trial, TrialMounts mounts) {
    LoraJobSpec spec = job.getSpec();
    Dataset dataset = spec.getDataset();
    LoraParameters lora = spec.getLora();
    Training training = spec.getTraining();

    String modelPath = mounts.localPath(spec.getBaseModel().getUri(), "model", false);
    String dataPath = mounts.localPath(dataset.getUri(), "dataset", false);
    String validationPath =
        dataset.getValidationUri() == null
            ? null
            : mounts.localPath(dataset.getValidationUri(), "validation", false);
    String outputRoot = mounts.localPath(spec.getOutput().getUri(), "output", true);
    Double validationSplit =
        validationPath != null
            ? null
            : dataset.getValidationSplit() != null
                ? dataset.getValidationSplit()
                : DEFAULT_VALIDATION_SPLIT;

    return new TrialConfig(
        TrialConfig.CURRENT_VERSION,
        job.getMetadata().getName(),
        trial.name(),
        trial.index(),
        new TrialConfig.BaseModel(
            spec.getBaseModel().getName(), modelPath, spec.getBaseModel().getRevision()),
        new TrialConfig.Dataset(
            dataPath, dataset.getFormat().name(), validationSplit, validationPath),
        new TrialConfig.Lora(
            trial.rank(),
            trial.alpha(),
            lora.getDropout(),
            List.copyOf(trial.targetModules()),
            Boolean.TRUE.equals(lora.getRsLora()),
            lora.getLoraPlusRatio()),
        new TrialConfig.Training(
            trial.learningRate(),
            training.getMaxSteps() != null ? null : training.getEpochs(),
            training.getMaxSteps(),
            training.getBatchSize(),
            training.getGradientAccumulationSteps(),
            training.getSequenceLength(),
            training.getWarmupSteps(),
            training.getScheduler().name(),
            training.getWeightDecay(),
            training.getMaxGradNorm(),
            training.getSeed(),
            training.getPrecision().name(),
            training.getCheckpointEverySteps(),
            training.getEvalEverySteps(),
            Boolean.TRUE.equals(training.getPacking()),
            Boolean.TRUE.equals(training.getGradientCheckpointing())),
        outputRoot + "/" + outputPath(job, trial),
        TrialConfig.DEFAULT_TERMINATION_MESSAGE_PATH);
  }
}
