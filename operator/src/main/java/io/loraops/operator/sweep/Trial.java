package io.loraops.operator.sweep;

import io.loraops.operator.api.v1alpha1.TrialParameters;
import java.util.List;

/**
 * One point of a sweep.
 *
 * @param index position in sweep order
 * @param name stable name (t000, t001, ...)
 */
public record Trial(
    int index,
    String name,
    int rank,
    double alpha,
    double learningRate,
    List<String> targetModules) {

  public TrialParameters parameters() {
    return new TrialParameters(rank, alpha, learningRate, List.copyOf(targetModules));
  }
}
