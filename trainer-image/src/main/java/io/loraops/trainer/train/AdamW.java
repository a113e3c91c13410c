package io.loraops.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.loraops.trainer.model.Kernels;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * AdamW (Loshchilov and Hutter 2019) with PyTorch's defaults and update order ({@code
 * torch.optim.AdamW}: decoupled decay first, bias-corrected moments, eps outside the sqrt), plus
 * global-norm gradient clipping as {@code torch.nn.utils.clip_grad_norm_}.
 *
 * <p>The moment buffers are created once in the model's manager, outside any step scope, and only
 * ever updated in place: a per-step {@link NDScope} would otherwise free them (see FACTS.md).
 * Gradients are zeroed here after each update, since they accumulate across backward passes.
 */
public final class AdamW {
  /**
   * A trainable tensor and its learning-rate multiplier (LoRA+ gives B a larger one).
   *
   * @param name PEFT key, used for the optimizer state file
   */
  public record Param(String name, NDArray value, double lrScale) {}

  private static final double BETA1 = 0.9;
  private static final double BETA2 = 0.999;
  private static final double EPS = 1e-8;

  private final List<Param> params;
  private final NDArray[] expAvg;
  private final NDArray[] expAvgSq;
  private final double weightDecay;
  private final Kernels kernels;
  private final List<Group> groups;
  private long step;

  /** The parameters that share a learning-rate multiplier, updated in one call. */
  private record Group(
      double lrScale, List<Param> params, List<NDArray> expAvg, List<NDArray> expAvgSq) {}

  public AdamW(List<Param> params, NDManager manager, double weightDecay) {
    this.params = params;
    this.weightDecay = weightDecay;
    this.kernels = Kernels.load(manager); // freed with the manager
    expAvg = new NDArray[params.size()];
    expAvgSq = new NDArray[params.size()];
    for (int i = 0; i < params.size(); i++) {
      expAvg[i] = manager.zeros(params.get(i).value().getShape());
      expAvgSq[i] = manager.zeros(params.get(i).value().getShape());
    }
    Map<Double, List<Integer>> byLrScale = new TreeMap<>();
    for (int i = 0; i < params.size(); i++) {
      byLrScale.computeIfAbsent(params.get(i).lrScale(), k -> new ArrayList<>()).add(i);
    }
    groups =
        byLrScale.entrySet().stream()
            .map(
                e ->
                    new Group(
                        e.getKey(),
                        e.getValue().stream().map(params::get).toList(),
                        e.getValue().stream().map(i -> expAvg[i]).toList(),
                        e.getValue().stream().map(i -> expAvgSq[i]).toList()))
            .toList();
  }

  public List<Param> params() {
    return params;
  }

  public NDArray expAvg(int i) {
    return expAvg[i];
  }

  public NDArray expAvgSq(int i) {
    return expAvgSq[i];
  }

  public long stepCount() {
    return step;
  }

  /** Restores the step count after the moment buffers were overwritten from a checkpoint. */
  public void setStepCount(long step) {
    this.step = step;
  }

  /** The global L2 norm of the accumulated gradients. */
  public double gradNorm() {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      return kernels.gradNorm(gradients());
    }
  }

  /** Sets every gradient to zero, NaN included (multiplying by zero would keep a NaN). */
  public void zeroGradients() {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      for (Param p : params) {
        NDArray g = p.value().getGradient();
        g.zerosLike().copyTo(g);
      }
    }
  }

  /** As {@link #step(double, double, double, double)} without loss scaling, computing the norm. */
  public double step(double lr, double maxGradNorm) {
    return step(lr, maxGradNorm, 1, gradNorm());
  }

  /**
   * Unscales and clips the gradients, updates every parameter in place and zeroes the gradients,
   * with libtorch's multi-tensor ops ({@link Kernels#adamw}, one call per learning rate), never
   * waiting for the GPU. Gradients with a non-finite norm (an overflow under {@link LossScale})
   * change nothing and are dropped, as {@code GradScaler.step} skips such a step; without loss
   * scaling the trainer never gets here with one.
   *
   * @param lossScale the factor the loss was multiplied by before the backward pass (1: none)
   * @param norm the global norm of the current gradients, unscaled ({@link #gradNorm()} / {@code
   *     lossScale}: exact, the scale is a power of two), as the backward passes' caller read it
   * @return {@code norm}
   */
  public double step(double lr, double maxGradNorm, double lossScale, double norm) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      if (!Double.isFinite(norm)) {
        zeroGradients();
        return norm;
      }
      double clip = maxGradNorm > 0 ? Math.min(1, maxGradNorm / (norm + 1e-6)) : 1;
      step++;
      double bc1 = 1 - Math.pow(BETA1, step);
      double bc2 = 1 - Math.pow(BETA2, step);
      for (Group group : groups) {
        double lri = lr * group.lrScale();
        kernels.adamw(
            group.params().stream().map(Param::value).toList(),
            group.params().stream().map(p -> p.value().getGradient()).toList(),
            group.expAvg(),
            group.expAvgSq(),
            clip / lossScale, // unscaling folded into clipping: one pass over the gradients
            1 - lri * weightDecay,
            lri / bc1,
            BETA1,
            BETA2,
            Math.sqrt(bc2),
            EPS);
      }
      return norm;
    }
  }

  /** Each parameter's gradient (handles closed with the caller's scope). */
  private List<NDArray> gradients() {
    return params.stream().map(p -> p.value().getGradient()).toList();
  }
}
