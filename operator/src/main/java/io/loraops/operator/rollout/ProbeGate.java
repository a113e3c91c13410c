package io.loraops.operator.rollout;

import io.loraops.operator.api.v1alpha1.Rollout;
import io.loraops.operator.rollout.InferenceServer.Answer;
import io.loraops.operator.rollout.InferenceServer.Endpoint;
import io.loraops.operator.rollout.InferenceServer.ServerException;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * The probe gate's verdict on a probe completion, for both loaders. A status code is not enough:
 * vLLM answers an adapter with NaN weights with 200 and an empty text (token id 0 repeated), so the
 * gate reads the answer itself:
 *
 * <ol>
 *   <li>it came within the latency bound;
 *   <li>it has tokens, every one with a finite log-probability (a NaN or infinite one means the
 *       weights are corrupt or diverged, whatever text came with it);
 *   <li>it has text, unless the model chose to stop (a completion cut at max_tokens with no text is
 *       what NaN logits look like on vLLM, where greedy sampling then repeats token 0).
 * </ol>
 */
final class ProbeGate {
  private static final Logger LOG = Logger.getLogger(ProbeGate.class);

  private ProbeGate() {}

  /**
   * The probe's verdict: why it failed (empty when it passed) and, when it passed, its numbers for
   * the rollout's message and Event.
   */
  record Verdict(Optional<String> failure, String numbers) {
    static Verdict failed(String why) {
      return new Verdict(Optional.of(why), null);
    }
  }

  /**
   * The probe gate, for both loaders: a greedy completion on {@code name}, judged by {@link
   * ProbeGate}.
   */
  static Verdict probe(
      InferenceServer server,
      Endpoint endpoint,
      String name,
      String reference,
      Rollout.Probe probe) {
    try {
      Answer answer = ask(server, endpoint, name, probe);
      Optional<String> failure = judge(endpoint.pod(), name, answer, probe);
      if (failure.isEmpty() && probe.getMaxLogprobShift() != null && reference != null) {
        Answer before = ask(server, endpoint, reference, probe);
        failure = judgeShift(endpoint.pod(), name, answer, reference, before, probe);
      }
      if (failure.isPresent()) {
        return Verdict.failed(failure.get());
      }
      String numbers = "probe on " + endpoint.pod() + ": " + describe(answer);
      LOG.debugf("%s: %s", name, numbers);
      return new Verdict(Optional.empty(), numbers);
    } catch (ServerException e) {
      return Verdict.failed(failed(name, e.getMessage()));
    }
  }

  private static Answer ask(
      InferenceServer server, Endpoint endpoint, String model, Rollout.Probe probe)
      throws ServerException {
    return server.complete(
        endpoint,
        model,
        probe.getPrompt(),
        probe.getMaxTokens(),
        Duration.ofMillis(probe.getLatencyBoundMillis()));
  }

  /**
   * Whether the new version's answer moved too far from the reference's: the mean log-probability
   * each gives its own greedy answer, compared against {@code maxLogprobShift}.
   */
  static Optional<String> judgeShift(
      String pod,
      String model,
      Answer answer,
      String reference,
      Answer before,
      Rollout.Probe probe) {
    double now = mean(answer);
    double was = mean(before);
    double shift = Math.abs(now - was);
    if (!Double.isFinite(was) || shift <= probe.getMaxLogprobShift()) {
      return Optional.empty(); // a reference without log-probabilities cannot judge
    }
    return Optional.of(
        String.format(
            Locale.ROOT,
            "probe completion of %s on pod %s: mean log-probability %.3f against %.3f for %s, a"
                + " shift of %.3f above maxLogprobShift %s",
            model,
            pod,
            now,
            was,
            reference,
            shift,
            probe.getMaxLogprobShift()));
  }

  private static double mean(Answer answer) {
    return answer.logprobs().isEmpty()
        ? Double.NaN
        : answer.logprobs().stream().mapToDouble(Double::doubleValue).sum()
            / answer.logprobs().size();
  }

  /** Why the answer fails the gate, or empty when it passes. */
  static Optional<String> judge(String pod, String model, Answer answer, Rollout.Probe probe) {
    String on = "probe completion of " + model + " on pod " + pod;
    if (answer.took().toMillis() > probe.getLatencyBoundMillis()) {
      return Optional.of(
          on
              + " took "
              + answer.took().toMillis()
              + " ms, above the bound of "
              + probe.getLatencyBoundMillis()
              + " ms");
    }
    if (answer.tokens() == 0) {
      return Optional.of(on + " answered no tokens");
    }
    for (int i = 0; i < answer.logprobs().size(); i++) {
      double logprob = answer.logprobs().get(i);
      if (!Double.isFinite(logprob)) {
        return Optional.of(
            on
                + ": token "
                + i
                + " has log-probability "
                + logprob
                + " (non-finite logits: the adapter's weights are corrupt or diverged)");
      }
    }
    if (answer.text().isEmpty() && !"stop".equals(answer.finishReason())) {
      return Optional.of(
          on
              + " produced "
              + answer.tokens()
              + " tokens and no text (as non-finite logits do on vLLM: the adapter's weights are"
              + " corrupt or diverged)");
    }
    return Optional.empty();
  }

  /** vLLM's 400 when a log-probability it was asked for is NaN: JSON has no NaN. */
  static final String VLLM_NAN_LOGPROBS = "Out of range float values are not JSON compliant";

  /** The gate's verdict on a probe request that got no usable answer ({@code error}). */
  static String failed(String model, String error) {
    return "probe completion of "
        + model
        + " failed: "
        + error
        + (error.contains(VLLM_NAN_LOGPROBS)
            ? " (vLLM's answer when log-probabilities are NaN: non-finite logits, the adapter's"
                + " weights are corrupt or diverged)"
            : "");
  }

  /** The numbers of a passed probe, for the step's message. */
  static String describe(Answer answer) {
    return String.format(
        Locale.ROOT,
        "%d tokens in %d ms, mean log-probability %.3f",
        answer.tokens(),
        answer.took().toMillis(),
        mean(answer));
  }
}
