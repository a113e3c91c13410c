package io.loraops.operator.sweep;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.operator.Fixtures;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.Sweep;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class SweepExpanderTest {

  LoraJobSpec spec = Fixtures.load("support-bot-sweep.yaml", LoraJob.class).getSpec();

  @Test
  void gridIsTheCartesianProductRankOutermost() {
    List<Trial> trials = SweepExpander.expand(spec);

    assertThat(trials).extracting(Trial::name).containsExactly("t000", "t001", "t002", "t003");
    assertThat(trials).extracting(Trial::rank).containsExactly(4, 4, 8, 8);
    assertThat(trials).extracting(Trial::learningRate).containsExactly(2e-4, 1e-4, 2e-4, 1e-4);
    assertThat(trials)
        .extracting(Trial::alpha)
        .as("alphaPerRank 2")
        .containsExactly(8.0, 8.0, 16.0, 16.0);
    assertThat(trials).extracting(Trial::targetModules).containsOnly(List.of("q_proj", "v_proj"));
  }

  @Test
  void explicitAlphasMultiplyTheGrid() {
    spec.getSweep().setAlphaPerRank(null);
    spec.getSweep().setAlpha(List.of(8.0, 32.0));
    spec.getSweep().setTargetModules(List.of(List.of("q_proj", "v_proj"), List.of("all-linear")));

    List<Trial> trials = SweepExpander.expand(spec);

    assertThat(trials).hasSize(2 * 2 * 2 * 2);
    assertThat(trials.get(0))
        .isEqualTo(new Trial(0, "t000", 4, 8.0, 2e-4, List.of("q_proj", "v_proj")));
    assertThat(trials.get(1)).isEqualTo(new Trial(1, "t001", 4, 8.0, 2e-4, List.of("all-linear")));
    assertThat(trials.get(15))
        .isEqualTo(new Trial(15, "t015", 8, 32.0, 1e-4, List.of("all-linear")));
  }

  @Test
  void maxTrialsKeepsTheFirstTrialsInOrder() {
    spec.getSweep().setMaxTrials(3);
    assertThat(SweepExpander.expand(spec)).extracting(Trial::rank).containsExactly(4, 4, 8);
  }

  @Test
  void randomIsASeededPermutationWithoutRepeats() {
    spec.getSweep().setRank(List.of(4, 8, 16, 32, 64));
    spec.getSweep().setLearningRate(List.of(1e-4, 2e-4, 3e-4));
    List<Trial> grid = SweepExpander.expand(spec);
    spec.getSweep().setStrategy(Sweep.Strategy.Random);
    spec.getSweep().setSeed(7L);

    List<Trial> random = SweepExpander.expand(spec);
    List<Trial> again = SweepExpander.expand(spec);
    spec.getSweep().setSeed(8L);
    List<Trial> otherSeed = SweepExpander.expand(spec);

    assertThat(random).isEqualTo(again);
    assertThat(params(random))
        .isNotEqualTo(params(grid))
        .containsExactlyInAnyOrderElementsOf(params(grid));
    assertThat(new HashSet<>(params(random))).hasSize(15);
    assertThat(params(otherSeed)).isNotEqualTo(params(random));
    assertThat(random).extracting(Trial::name).startsWith("t000", "t001");

    spec.getSweep().setMaxTrials(4);
    assertThat(params(SweepExpander.expand(spec))).isEqualTo(params(otherSeed).subList(0, 4));
  }

  @Test
  void withoutASweepThereIsOneTrialFromLoraAndTraining() {
    spec.setSweep(null);
    assertThat(SweepExpander.expand(spec))
        .containsExactly(new Trial(0, "t000", 8, 16.0, 2e-4, List.of("q_proj", "v_proj")));
  }

  private static List<String> params(List<Trial> trials) {
    return trials.stream()
        .map(t -> t.rank() + "/" + t.alpha() + "/" + t.learningRate() + "/" + t.targetModules())
        .toList();
  }
}
