package io.loraops.operator.sweep;

import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.Sweep;
import io.loraops.operator.support.Names;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Expands a LoraJob's sweep into its trials. Pure and deterministic: the same spec always gives the
 * same trials, in the same order, with the same names — which is what lets a restarted operator
 * find the Jobs it created before.
 */
public final class SweepExpander {

  private SweepExpander() {}

  public static List<Trial> expand(LoraJobSpec spec) {
    Sweep sweep = spec.getSweep();
    List<Integer> ranks =
        sweep != null && sweep.getRank() != null
            ? sweep.getRank()
            : List.of(spec.getLora().getRank());
    List<Double> learningRates =
        sweep != null && sweep.getLearningRate() != null
            ? sweep.getLearningRate()
            : List.of(spec.getTraining().getLearningRate());
    List<List<String>> moduleSets =
        sweep != null && sweep.getTargetModules() != null
            ? sweep.getTargetModules()
            : List.of(spec.getLora().getTargetModules());

    // Grid order: rank outermost, then alpha, learning rate, target modules.
    List<double[]> rankAlphaPairs = new ArrayList<>();
    for (int rank : ranks) {
      for (double alpha : alphasFor(spec, sweep, rank)) {
        rankAlphaPairs.add(new double[] {rank, alpha});
      }
    }
    List<Trial> grid = new ArrayList<>();
    for (double[] rankAlpha : rankAlphaPairs) {
      for (double learningRate : learningRates) {
        for (List<String> modules : moduleSets) {
          grid.add(new Trial(0, "", (int) rankAlpha[0], rankAlpha[1], learningRate, modules));
        }
      }
    }

    if (sweep != null && sweep.getStrategy() == Sweep.Strategy.Random) {
      shuffle(grid, sweep.getSeed() == null ? 0L : sweep.getSeed());
    }
    int limit =
        sweep != null && sweep.getMaxTrials() != null
            ? Math.min(sweep.getMaxTrials(), grid.size())
            : grid.size();

    List<Trial> trials = new ArrayList<>(limit);
    for (int i = 0; i < limit; i++) {
      Trial t = grid.get(i);
      trials.add(
          new Trial(i, Names.trial(i), t.rank(), t.alpha(), t.learningRate(), t.targetModules()));
    }
    return trials;
  }

  private static List<Double> alphasFor(LoraJobSpec spec, Sweep sweep, int rank) {
    if (sweep != null && sweep.getAlpha() != null) {
      return sweep.getAlpha();
    }
    if (sweep != null && sweep.getAlphaPerRank() != null) {
      return List.of(sweep.getAlphaPerRank() * rank);
    }
    return List.of(spec.getLora().getAlpha());
  }

  /**
   * Fisher-Yates with {@link java.util.Random}, whose sequence for a seed is specified by the JDK,
   * so the order is the same on every JVM and after every restart. A permutation never repeats a
   * combination.
   */
  private static <T> void shuffle(List<T> items, long seed) {
    Random random = new Random(seed);
    for (int i = items.size() - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      T swap = items.get(i);
      items.set(i, items.get(j));
      items.set(j, swap);
    }
  }
}
