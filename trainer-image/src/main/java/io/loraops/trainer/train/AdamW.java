package io.loraops.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.List;

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
  private long step;

  public AdamW(List<Param> params, NDManager manager, double weightDecay) {
    this.params = params;
    this.weightDecay = weightDecay;
    expAvg = new NDArray[params.size()];
    expAvgSq = new NDArray[params.size()];
    for (int i = 0; i < params.size(); i++) {
      expAvg[i] = manager.zeros(params.get(i).value().getShape());
      expAvgSq[i] = manager.zeros(params.get(i).value().getShape());
    }
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
      double sumSq = 0;
      for (Param p : params) {
        sumSq += p.value().getGradient().square().sum().getFloat();
      }
      return Math.sqrt(sumSq);
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

  /**
   * Clips, updates every parameter in place and zeroes the gradients.
   *
   * @return the global gradient norm before clipping
   */
  public double step(double lr, double maxGradNorm) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray[] grads = new NDArray[params.size()];
      double sumSq = 0;
      for (int i = 0; i < grads.length; i++) {
        grads[i] = params.get(i).value().getGradient();
        sumSq += grads[i].square().sum().getFloat();
      }
      double norm = Math.sqrt(sumSq);
      if (maxGradNorm > 0) {
        double coef = maxGradNorm / (norm + 1e-6);
        if (coef < 1) {
          for (NDArray g : grads) {
            g.muli((float) coef);
          }
        }
      }
      step++;
      double bc1 = 1 - Math.pow(BETA1, step);
      double bc2 = 1 - Math.pow(BETA2, step);
      for (int i = 0; i < grads.length; i++) {
        NDArray p = params.get(i).value();
        NDArray g = grads[i];
        double lri = lr * params.get(i).lrScale();
        if (weightDecay != 0) {
          p.muli((float) (1 - lri * weightDecay));
        }
        expAvg[i].muli((float) BETA1).addi(g.mul((float) (1 - BETA1)));
        expAvgSq[i].muli((float) BETA2).addi(g.square().mul((float) (1 - BETA2)));
        NDArray denom = expAvgSq[i].sqrt().div((float) Math.sqrt(bc2)).add((float) EPS);
        p.subi(expAvg[i].div(denom).mul((float) (lri / bc1)));
        g.muli(0f);
      }
      return norm;
    }
  }
}
