package io.loraops.contract;

/**
 * One JSON line the trainer prints to stdout while it trains, for `kubectl logs` and log pipelines.
 * The operator reads these lines through the pod log API to show live progress and to stop trials
 * early (docs/progress.md); every field but {@code event} and {@code step} may be absent.
 *
 * @param event {@code step}, {@code eval}, {@code checkpoint} or {@code done}
 * @param step optimizer step
 * @param totalSteps planned optimizer steps
 * @param loss training loss of this step (or eval loss for {@code eval})
 * @param learningRate learning rate used for this step
 * @param tokensPerSecond throughput since the previous event
 * @param elapsedSeconds training time so far (optimizer steps only, summed over resumed runs), so
 *     that a reader can estimate the time left as {@code elapsed / step * (totalSteps - step)}
 */
public record ProgressEvent(
    String event,
    long step,
    long totalSteps,
    Double loss,
    Double learningRate,
    Double tokensPerSecond,
    Double elapsedSeconds) {}
