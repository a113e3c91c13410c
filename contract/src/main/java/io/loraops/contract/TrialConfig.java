package io.loraops.contract;

import java.util.List;

/**
 * What the operator hands one trainer process: the whole trial, already resolved to local paths.
 *
 * <p>The operator writes this as {@code trial.json} into a ConfigMap mounted into the trial pod;
 * the trainer reads it from the path given as its only argument. Every value is final: the trainer
 * applies no defaults of its own beyond those documented here, so the operator's view of a trial
 * and what actually ran can never disagree.
 *
 * @param contractVersion {@link #CURRENT_VERSION}; a trainer refuses versions it does not know
 * @param job the LoraJob's name
 * @param trial the trial's name (stable, unique within the job)
 * @param trialIndex the trial's position in the expanded sweep
 * @param baseModel where the Hugging Face model folder is mounted
 * @param dataset where the JSONL data is mounted and how to read it
 * @param lora the adapter's shape
 * @param training the optimisation hyperparameters
 * @param outputDir folder the trainer writes the adapter, metrics.json and checkpoints into
 * @param terminationMessagePath file the final {@link TrialSummary} is written to
 */
public record TrialConfig(
    int contractVersion,
    String job,
    String trial,
    int trialIndex,
    BaseModel baseModel,
    Dataset dataset,
    Lora lora,
    Training training,
    String outputDir,
    String terminationMessagePath) {

  /** The contract version this build writes and understands. */
  public static final int CURRENT_VERSION = 1;

  /** Default location of the Kubernetes termination message. */
  public static final String DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log";

  public TrialConfig withContractVersion(int version) {
    return new TrialConfig(
        version,
        job,
        trial,
        trialIndex,
        baseModel,
        dataset,
        lora,
        training,
        outputDir,
        terminationMessagePath);
  }

  public TrialConfig withBaseModel(BaseModel model) {
    return new TrialConfig(
        contractVersion,
        job,
        trial,
        trialIndex,
        model,
        dataset,
        lora,
        training,
        outputDir,
        terminationMessagePath);
  }

  public TrialConfig withDataset(Dataset data) {
    return new TrialConfig(
        contractVersion,
        job,
        trial,
        trialIndex,
        baseModel,
        data,
        lora,
        training,
        outputDir,
        terminationMessagePath);
  }

  public TrialConfig withLora(Lora adapter) {
    return new TrialConfig(
        contractVersion,
        job,
        trial,
        trialIndex,
        baseModel,
        dataset,
        adapter,
        training,
        outputDir,
        terminationMessagePath);
  }

  public TrialConfig withTraining(Training optimisation) {
    return new TrialConfig(
        contractVersion,
        job,
        trial,
        trialIndex,
        baseModel,
        dataset,
        lora,
        optimisation,
        outputDir,
        terminationMessagePath);
  }

  /** The same trial writing somewhere else: its output folder and termination message file. */
  public TrialConfig withOutput(String folder, String terminationMessage) {
    return new TrialConfig(
        contractVersion,
        job,
        trial,
        trialIndex,
        baseModel,
        dataset,
        lora,
        training,
        folder,
        terminationMessage);
  }

  /**
   * @param name the model's logical name, recorded in adapter_config.json
   * @param path local folder holding config.json, *.safetensors and tokenizer.json
   * @param revision optional revision or digest of the base model
   */
  public record BaseModel(String name, String path, String revision) {}

  /**
   * @param path local JSONL file
   * @param format one of {@code text}, {@code instruction}, {@code chat}
   * @param validationSplit fraction of examples held out for evaluation, used when no
   *     validationPath is given
   * @param validationPath optional separate JSONL file for evaluation
   */
  public record Dataset(
      String path, String format, Double validationSplit, String validationPath) {}

  /**
   * @param rank r, the inner dimension of B·A
   * @param alpha scaling numerator: scale = alpha / r, or alpha / sqrt(r) with rsLora
   * @param dropout dropout probability on the LoRA path
   * @param targetModules Hugging Face module names (e.g. q_proj, v_proj) or "all-linear"
   * @param rsLora use alpha / sqrt(r) scaling
   * @param loraPlusRatio learning rate of B divided by that of A (LoRA+); 1 disables it
   */
  public record Lora(
      int rank,
      double alpha,
      double dropout,
      List<String> targetModules,
      boolean rsLora,
      double loraPlusRatio) {}

  /**
   * @param learningRate peak learning rate
   * @param epochs passes over the training set; ignored when maxSteps is set
   * @param maxSteps optimizer steps; takes precedence over epochs when set
   * @param batchSize sequences per micro-batch
   * @param gradientAccumulationSteps micro-batches per optimizer step
   * @param sequenceLength tokens per sequence
   * @param warmupSteps linear warmup steps
   * @param scheduler {@code cosine}, {@code linear} or {@code constant}
   * @param weightDecay AdamW decoupled weight decay
   * @param maxGradNorm gradient clipping threshold; 0 disables clipping
   * @param seed seed for initialisation, shuffling and dropout
   * @param precision {@code fp32}, {@code bf16} or {@code fp16}
   * @param checkpointEverySteps write a resumable checkpoint every N optimizer steps; 0 disables
   * @param evalEverySteps evaluate every N optimizer steps; 0 evaluates only at the end
   * @param packing whether a training row holds several whole examples up to sequenceLength (each
   *     attending only to itself, positions restarting), instead of one padded example
   * @param gradientCheckpointing whether the backward pass recomputes each transformer block
   *     instead of keeping every block's activations (less memory, about a third more compute)
   */
  public record Training(
      double learningRate,
      Integer epochs,
      Integer maxSteps,
      int batchSize,
      int gradientAccumulationSteps,
      int sequenceLength,
      int warmupSteps,
      String scheduler,
      double weightDecay,
      double maxGradNorm,
      long seed,
      String precision,
      int checkpointEverySteps,
      int evalEverySteps,
      boolean packing,
      boolean gradientCheckpointing) {}
}
