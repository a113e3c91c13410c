package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.loraops.operator.rollout.InferenceServer.Endpoint;
import io.loraops.operator.rollout.InferenceServer.NoAnswer;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** A server that gave no answer is not waited for again by every reconcile. */
class QuietServersTest {
  final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-11-26T02:00:00Z"));
  final AtomicInteger asked = new AtomicInteger();
  final Endpoint hung = new Endpoint("pod-hung", "127.0.0.9", 8000);
  final Endpoint fine = new Endpoint("pod-fine", "127.0.0.10", 8000);

  /** pod-hung times out (as the HTTP client reports it); the others answer. */
  final FakeInferenceServer delegate =
      new FakeInferenceServer() {
        @Override
        public Models models(Endpoint pod) throws ServerException {
          asked.incrementAndGet();
          if (pod.equals(hung)) {
            throw new NoAnswer("pod pod-hung: /v1/models gave no answer within 10000 ms");
          }
          return super.models(pod);
        }
      };

  final InferenceServer servers = new QuietServers(delegate, Duration.ofSeconds(30), now::get);

  @Test
  void aServerThatGaveNoAnswerIsAnsweredForUntilTheHoldEnds() throws Exception {
    assertThatThrownBy(() -> servers.models(hung)).isInstanceOf(NoAnswer.class);
    assertThat(asked).hasValue(1);

    // every other reconcile (any adapter, any API key) gets the answer at once
    now.set(now.get().plusSeconds(29));
    assertThatThrownBy(() -> servers.withApiKey("k").models(hung))
        .isInstanceOf(NoAnswer.class)
        .hasMessage(
            "pod pod-hung: /v1/models gave no answer within 10000 ms; not asked again until"
                + " 2026-11-26T02:00:30Z");
    assertThatThrownBy(() -> servers.load(hung, "bot-v1", "/a/v1", false))
        .isInstanceOf(NoAnswer.class);
    assertThat(asked).hasValue(1);
    assertThat(servers.models(fine).baseId()).isEqualTo(FakeInferenceServer.BASE);

    // after the hold it is asked again
    now.set(now.get().plusSeconds(2));
    assertThatThrownBy(() -> servers.models(hung)).isInstanceOf(NoAnswer.class);
    assertThat(asked).hasValue(3);
  }
}
