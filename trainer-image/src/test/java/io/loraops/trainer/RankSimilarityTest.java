package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.loraops.trainer.lora.RandomAdapter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lora-trainer rank-similarity} on adapters the trainer writes. */
class RankSimilarityTest {
  @TempDir Path tmp;

  @Test
  void perModuleSimilarityOfTwoAdaptersOfOneBase() throws Exception {
    Path model = Fixtures.model("tiny-llama");
    Path r4 = tmp.resolve("r4");
    Path r8 = tmp.resolve("r8");
    RandomAdapter.write(
        model, r4, 4, List.of("q_proj", "v_proj"), 1, "tiny-llama", RandomAdapter.Weights.RANDOM);
    RandomAdapter.write(
        model, r8, 8, List.of("q_proj"), 2, "tiny-llama", RandomAdapter.Weights.RANDOM);

    Map<String, Object> self = DevCommands.rankSimilarity(r4, r4);
    assertThat(self).containsOnlyKeys("q_proj", "v_proj");
    double[][] phi = phi(self, "q_proj");
    assertThat(phi).hasNumberOfRows(4);
    for (int i = 0; i < 4; i++) {
      assertThat(phi[i][i]).isCloseTo(1.0, within(1e-4));
    }

    // only the modules both adapt; phi is r1 x r2, between 0 and 1
    Map<String, Object> across = DevCommands.rankSimilarity(r4, r8);
    assertThat(across).containsOnlyKeys("q_proj");
    assertThat(((Map<?, ?>) across.get("q_proj")).get("layers")).isEqualTo(2);
    double[][] cross = phi(across, "q_proj");
    assertThat(cross).hasNumberOfRows(4);
    assertThat(cross[0]).hasSize(8);
    for (double[] row : cross) {
      for (double p : row) {
        assertThat(p).isBetween(0.0, 1.0);
      }
    }
  }

  private static double[][] phi(Map<String, Object> result, String module) {
    return (double[][]) ((Map<?, ?>) result.get(module)).get("phi");
  }
}
