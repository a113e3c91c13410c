package io.loraops.trainer.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** A generated token's log-probability and the most likely tokens beside it. */
class LogprobStepTest {
  @Test
  void theTopTokensComeLargestFirstWithTiesInIdOrder() {
    float[] logits = {0.5f, 2f, -1f, 2f, 3f, 0.5f};
    assertThat(InferenceEngine.topIds(logits, 4)).containsExactly(4, 1, 3, 0);
    assertThat(InferenceEngine.topIds(logits, 1)).containsExactly(4);
    assertThat(InferenceEngine.topIds(logits, 0)).isEmpty();
    assertThat(InferenceEngine.topIds(logits, 6)).containsExactly(4, 1, 3, 0, 5, 2);
  }

  @Test
  void logprobsAreTheLogSoftmax() {
    float[] logits = {1f, 2f, 3f};
    double logZ = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    InferenceEngine.Step step = InferenceEngine.step(logits, 1, 2);
    assertThat(step.logprob()).isCloseTo(2 - logZ, within(1e-9));
    assertThat(step.top()).extracting(InferenceEngine.Candidate::token).containsExactly(2, 1);
    assertThat(step.top().get(0).logprob()).isCloseTo(3 - logZ, within(1e-9));
  }
}
