package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.loraops.operator.rollout.InferenceServer.Endpoint;
import io.loraops.operator.rollout.InferenceServer.NoAnswer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** One server gets at most its share of calls at a time; other servers are not affected. */
class BoundedServersTest {
  final Endpoint busy = new Endpoint("pod-busy", "127.0.0.9", 8000);
  final Endpoint free = new Endpoint("pod-free", "127.0.0.10", 8000);
  final CountDownLatch release = new CountDownLatch(1);
  final AtomicInteger inFlight = new AtomicInteger();

  /** pod-busy holds every call until released. */
  final FakeInferenceServer delegate =
      new FakeInferenceServer() {
        @Override
        public Models models(Endpoint pod) throws ServerException {
          if (pod.equals(busy)) {
            inFlight.incrementAndGet();
            try {
              release.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }
          return super.models(pod);
        }
      };

  final InferenceServer servers = new BoundedServers(delegate, 2, Duration.ofMillis(300));

  @Test
  void aThirdCallWaitsForATurnAndGivesUpLikeAServerWithoutAnswer() throws Exception {
    var first = CompletableFuture.supplyAsync(() -> models(servers, busy));
    var second = CompletableFuture.supplyAsync(() -> models(servers.withApiKey("k"), busy));
    while (inFlight.get() < 2) {
      Thread.sleep(10);
    }
    assertThatThrownBy(() -> servers.models(busy))
        .isInstanceOf(NoAnswer.class)
        .hasMessage("pod pod-busy: 2 calls to its server were still unanswered after 0 s");
    assertThat(inFlight).hasValue(2);
    assertThat(servers.models(free).baseId()).isEqualTo(FakeInferenceServer.BASE);

    release.countDown();
    assertThat(first.get(5, TimeUnit.SECONDS)).isEqualTo(FakeInferenceServer.BASE);
    assertThat(second.get(5, TimeUnit.SECONDS)).isEqualTo(FakeInferenceServer.BASE);
    assertThat(servers.models(busy).baseId()).isEqualTo(FakeInferenceServer.BASE);
  }

  private static String models(InferenceServer servers, Endpoint pod) {
    try {
      return servers.models(pod).baseId();
    } catch (InferenceServer.ServerException e) {
      throw new IllegalStateException(e);
    }
  }
}
