package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.operator.api.v1alpha1.Rollout;
import io.loraops.operator.rollout.InferenceServer.Answer;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The probe gate reads the answer, not only its status code. */
class ProbeGateTest {
  final Rollout.Probe probe = new Rollout.Probe(); // 4 tokens, 10 s bound

  Answer answer(long millis, String text, int tokens, String finish, Double... logprobs) {
    return new Answer(Duration.ofMillis(millis), text, tokens, finish, List.of(logprobs));
  }

  @Test
  void aHealthyAnswerPasses() {
    assertThat(
            ProbeGate.judge("p", "bot-v2", answer(30, " one two", 2, "length", -1.2, -0.3), probe))
        .isEmpty();
    assertThat(ProbeGate.describe(answer(30, " one two", 2, "length", -1.2, -0.4)))
        .isEqualTo("2 tokens in 30 ms, mean log-probability -0.800");
  }

  @Test
  void anEmptyAnswerThatStoppedAtOncePasses() {
    assertThat(ProbeGate.judge("p", "bot-v2", answer(30, "", 1, "stop", -0.1), probe)).isEmpty();
  }

  @Test
  void vllmsAnswerToNanWeightsFails() {
    // What vLLM's CPU build answers for an adapter with NaN weights: 200, token 0 repeated.
    assertThat(
            ProbeGate.judge(
                "p",
                "bot-v3",
                answer(30, "", 4, "length", Double.NaN, Double.NaN, 0.0, 0.0),
                probe))
        .hasValueSatisfying(
            m ->
                assertThat(m)
                    .isEqualTo(
                        "probe completion of bot-v3 on pod p: token 0 has log-probability NaN"
                            + " (non-finite logits: the adapter's weights are corrupt or"
                            + " diverged)"));
    assertThat(ProbeGate.judge("p", "bot-v3", answer(30, "", 4, "length", -9999.0), probe))
        .hasValueSatisfying(m -> assertThat(m).contains("produced 4 tokens and no text"));
    assertThat(
            ProbeGate.judge(
                "p", "bot-v3", answer(30, "x", 1, "length", Double.NEGATIVE_INFINITY), probe))
        .hasValueSatisfying(m -> assertThat(m).contains("log-probability -Infinity"));
  }

  @Test
  void vllmsRefusalToWriteNanLogprobsIsNamed() {
    assertThat(
            ProbeGate.failed(
                "bot-v3",
                "pod p: /v1/completions answered 400: Out of range float values are not JSON"
                    + " compliant"))
        .isEqualTo(
            "probe completion of bot-v3 failed: pod p: /v1/completions answered 400: Out of range"
                + " float values are not JSON compliant (vLLM's answer when log-probabilities are"
                + " NaN: non-finite logits, the adapter's weights are corrupt or diverged)");
  }

  @Test
  void aVersionWhoseAnswerMovesTooFarFromTheReferenceFails() {
    probe.setMaxLogprobShift(1.5);
    Answer serving = answer(30, " two three", 2, "length", -3.0, -1.0); // mean -2
    Answer fineTuned = answer(30, " two four", 2, "length", -1.5, -0.5); // mean -1
    Answer confidentNoise = answer(30, " the the", 2, "length", -0.01, -0.01);
    assertThat(ProbeGate.judgeShift("p", "bot-v3", fineTuned, "bot-v2", serving, probe)).isEmpty();
    assertThat(ProbeGate.judgeShift("p", "bot-v3", confidentNoise, "bot-v2", serving, probe))
        .hasValue(
            "probe completion of bot-v3 on pod p: mean log-probability -0.010 against -2.000 for"
                + " bot-v2, a shift of 1.990 above maxLogprobShift 1.5");
  }

  @Test
  void noTokensOrALateAnswerFails() {
    assertThat(ProbeGate.judge("p", "m", answer(30, "", 0, "length"), probe))
        .hasValue("probe completion of m on pod p answered no tokens");
    assertThat(ProbeGate.judge("p", "m", answer(10_001, "x", 1, "length", -1.0), probe))
        .hasValue("probe completion of m on pod p took 10001 ms, above the bound of 10000 ms");
  }
}
