package io.loraops.contract;

/**
 * One JSON line the trainer prints to stdout while it trains, for `kubectl logs` and log pipelines.
 *
 * @param event {@code step}, {@code eval}, {@code checkpoint} or {@code done}
 * @param step optimizer step
 * @param totalSteps planned optimizer steps
 * @param loss training loss of this step (or eval loss for {@code eval})
 * @param learningRate learning rate used for this step
 * @param tokensPerSecond throughput since the previous event
 */
public record ProgressEvent(
    String event,
    long step,
    long totalSteps,
    Double loss,
    Double learningRate,
    Double tokensPerSecond) {}
