package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/** Server work runs off the caller's thread, once at a time per primary, and reports its end. */
class ServerWorkTest {
  static final Instant T0 = Instant.parse("2026-11-26T04:00:00Z");

  final ServerWork<ConfigMap, String> work = new ServerWork<>(() -> T0);
  final List<ResourceID> reconciled = new CopyOnWriteArrayList<>();
  final ResourceID bot = new ResourceID("support-bot", "ml");
  final ResourceID other = new ResourceID("other-bot", "ml");

  {
    work.events().setEventHandler((Event e) -> reconciled.add(e.getRelatedCustomResourceID()));
    work.events().start(); // as the operator starts it; a source not started drops events
  }

  @Test
  void oneWorkAtATimePerPrimaryAndItsEndReconcilesThePrimary() throws Exception {
    CountDownLatch hung = new CountDownLatch(1);
    String caller = Thread.currentThread().getName();
    assertThat(
            work.start(bot, "inputs-1", () -> answerWhen(hung) + Thread.currentThread().getName()))
        .isTrue();
    assertThat(work.busy(bot)).isTrue();
    assertThat(work.start(bot, "inputs-2", () -> "never runs")).isFalse();

    // another primary is not held up by the hung one
    assertThat(work.start(other, "inputs-a", () -> "done")).isTrue();
    await().until(() -> reconciled.contains(other));
    assertThat(work.last(other).orElseThrow().result()).isEqualTo("done");
    assertThat(work.busy(bot)).isTrue();
    assertThat(work.last(bot)).isEmpty();

    hung.countDown();
    await().until(() -> reconciled.contains(bot));
    ServerWork.Finished<String> finished = work.last(bot).orElseThrow();
    assertThat(finished.inputs()).isEqualTo("inputs-1");
    assertThat(finished.result()).startsWith("answered server-work-").doesNotContain(caller);
    assertThat(finished.at()).isEqualTo(T0);
    assertThat(work.busy(bot)).isFalse();
  }

  @Test
  void aWorkThatThrowsFinishesWithItsFailure() {
    work.start(
        bot,
        "inputs",
        () -> {
          throw new IllegalStateException("no route to the API server");
        });
    await().until(() -> reconciled.contains(bot));
    assertThat(work.last(bot).orElseThrow().failure()).isEqualTo("no route to the API server");
    assertThat(work.last(bot).orElseThrow().result()).isNull();
  }

  @Test
  void workIsDueFirstWhenInputsChangeOrWhenTheLastAskedToBeLookedAtAgain() {
    var last = Optional.of(new ServerWork.Finished<>("inputs", "result", null, T0));
    Duration pause = Duration.ofSeconds(30);
    assertThat(ServerWork.due(Optional.empty(), "inputs", pause, T0)).isTrue();
    assertThat(ServerWork.due(last, "inputs", pause, T0.plusSeconds(29))).isFalse();
    assertThat(ServerWork.due(last, "changed", pause, T0.plusSeconds(1))).isTrue();
    assertThat(ServerWork.due(last, "inputs", pause, T0.plusSeconds(30))).isTrue();
  }

  @Test
  void aForgottenPrimaryKeepsNothing() {
    work.start(bot, "inputs", () -> "done");
    await().until(() -> reconciled.contains(bot));
    work.forget(bot);
    assertThat(work.last(bot)).isEmpty();
  }

  private static String answerWhen(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return "answered ";
  }
}
