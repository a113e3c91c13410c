package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.ValidationRule;
import lombok.Data;

/** Optimisation hyperparameters (AdamW with warmup and a decaying schedule). */
@Data
@ValidationRule(
    value = "has(self.epochs) || has(self.maxSteps)",
    message = "set training.epochs or training.maxSteps")
@ValidationRule(
    value = "!has(self.maxSteps) || !has(self.warmupSteps) || self.warmupSteps < self.maxSteps",
    message = "training.warmupSteps must be smaller than training.maxSteps")
public class Training {

  @Min(value = 0, inclusive = false)
  @Max(1)
  @JsonPropertyDescription("Peak learning rate. Default 2e-4.")
  private Double learningRate = 2e-4;

  @Min(1)
  @Max(1000)
  @JsonPropertyDescription("Passes over the training data. Ignored when maxSteps is set.")
  private Integer epochs;

  @Min(1)
  @Max(10_000_000)
  @JsonPropertyDescription("Optimizer steps to take; takes precedence over epochs.")
  private Integer maxSteps;

  @Min(1)
  @Max(4096)
  @JsonPropertyDescription("Sequences per micro-batch. Default 4.")
  private Integer batchSize = 4;

  @Min(1)
  @Max(1024)
  @JsonPropertyDescription("Micro-batches per optimizer step. Default 1.")
  private Integer gradientAccumulationSteps = 1;

  @Min(8)
  @Max(131072)
  @JsonPropertyDescription("Tokens per training sequence. Default 512.")
  private Integer sequenceLength = 512;

  @Min(0)
  @JsonPropertyDescription("Linear warmup steps. Default 0.")
  private Integer warmupSteps = 0;

  @JsonPropertyDescription("Learning-rate schedule after warmup. Default cosine.")
  private Scheduler scheduler = Scheduler.cosine;

  @Min(0)
  @Max(1)
  @JsonPropertyDescription("AdamW decoupled weight decay. Default 0.")
  private Double weightDecay = 0.0;

  @Min(0)
  @JsonPropertyDescription("Gradient clipping by global norm; 0 disables. Default 1.0.")
  private Double maxGradNorm = 1.0;

  @JsonPropertyDescription("Seed for initialisation, shuffling and dropout. Default 42.")
  private Long seed = 42L;

  @JsonPropertyDescription(
      "Numeric precision: fp32, or bf16 mixed precision (frozen weights and activations in"
          + " bf16, the adapter, its optimizer state and the loss in fp32), for GPUs and CPUs"
          + " with bf16 instructions, or fp16 mixed precision (the same in float16, with dynamic"
          + " loss scaling), for GPUs without bf16 such as T4 and V100. Default fp32.")
  private Precision precision = Precision.fp32;

  @Min(0)
  @JsonPropertyDescription(
      "Write a resumable checkpoint every N optimizer steps so a retried pod resumes; 0"
          + " disables. Default 100.")
  private Integer checkpointEverySteps = 100;

  @Min(0)
  @JsonPropertyDescription("Evaluate every N optimizer steps; 0 evaluates only at the end.")
  private Integer evalEverySteps = 0;

  @JsonPropertyDescription(
      "Sequence packing: each training row holds as many whole examples as fit in sequenceLength,"
          + " one after another, instead of one example and padding. Each example attends only"
          + " to itself and its positions restart at 0, so the loss is the unpacked loss; fewer"
          + " padding tokens make steps faster on data of mixed lengths. Evaluation is never"
          + " packed. Default false.")
  private Boolean packing = false;

  @JsonPropertyDescription(
      "Activation checkpointing: the backward pass recomputes each transformer block from its"
          + " input instead of keeping every block's activations, for about a third more compute;"
          + " gradients are the same. Default false.")
  private Boolean gradientCheckpointing = false;

  /** Learning-rate schedules. */
  public enum Scheduler {
    cosine,
    linear,
    constant
  }

  /** Numeric precisions. */
  public enum Precision {
    fp32,
    bf16,
    fp16
  }
}
