package io.loraops.operator.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EventRecorderTest {
  private static final Instant NOW = Instant.parse("2026-11-25T10:00:00Z");
  private static final ConfigMap ABOUT =
      new ConfigMapBuilder()
          .withNewMetadata()
          .withName("a")
          .withNamespace("ns")
          .endMetadata()
          .build();

  private final List<String> written = new CopyOnWriteArrayList<>();
  private final CountDownLatch writing = new CountDownLatch(1);
  private final CountDownLatch release = new CountDownLatch(1);
  private EventRecorder recorder;

  /** Writes by remembering the reason; the first write waits for {@code release}. */
  private final BiConsumer<KubernetesClient, Event> blockingWrite =
      (client, event) -> {
        writing.countDown();
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        written.add(event.getReason());
      };

  @AfterEach
  void close() {
    release.countDown();
    if (recorder != null) {
      recorder.close();
    }
  }

  @Test
  void recordReturnsBeforeTheWriteAndWritesInOrder() throws Exception {
    recorder = new EventRecorder(100, blockingWrite);
    for (int i = 0; i < 5; i++) {
      recorder.record(null, ABOUT, EventRecorder.NORMAL, "R" + i, "m", NOW);
    }
    assertThat(writing.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(written).as("the first write is still under way; record did not wait").isEmpty();

    release.countDown();
    await().atMost(Duration.ofSeconds(10)).until(() -> written.size() == 5);
    assertThat(written).containsExactly("R0", "R1", "R2", "R3", "R4");
  }

  @Test
  void aFullQueueDropsWhatItCannotHold() throws Exception {
    recorder = new EventRecorder(2, blockingWrite);
    recorder.record(null, ABOUT, EventRecorder.NORMAL, "being written", "m", NOW);
    assertThat(writing.await(10, TimeUnit.SECONDS)).isTrue();
    recorder.record(null, ABOUT, EventRecorder.NORMAL, "queued 1", "m", NOW);
    recorder.record(null, ABOUT, EventRecorder.NORMAL, "queued 2", "m", NOW);
    recorder.record(null, ABOUT, EventRecorder.WARNING, "dropped", "m", NOW);

    release.countDown();
    await().atMost(Duration.ofSeconds(10)).until(() -> written.size() == 3);
    recorder.close();
    assertThat(written).containsExactly("being written", "queued 1", "queued 2");
  }

  @Test
  void aFailedWriteIsLoggedAndTheNextOneIsWritten() {
    recorder =
        new EventRecorder(
            100,
            (client, event) -> {
              if (event.getReason().equals("refused")) {
                throw new KubernetesClientException("Forbidden");
              }
              written.add(event.getReason());
            });
    recorder.record(null, ABOUT, EventRecorder.WARNING, "refused", "m", NOW);
    recorder.record(null, ABOUT, EventRecorder.NORMAL, "next", "m", NOW);
    await().atMost(Duration.ofSeconds(10)).until(() -> written.contains("next"));
  }

  @Test
  void closeWritesWhatIsQueued() throws Exception {
    recorder =
        new EventRecorder(
            100,
            (client, event) -> {
              try {
                Thread.sleep(10);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
              written.add(event.getReason());
            });
    for (int i = 0; i < 20; i++) {
      recorder.record(null, ABOUT, EventRecorder.NORMAL, "R" + i, "m", NOW);
    }
    recorder.close();
    assertThat(written).hasSize(20);
    recorder.record(null, ABOUT, EventRecorder.NORMAL, "after close", "m", NOW);
    assertThat(written).as("dropped, with a warning: the recorder is closed").hasSize(20);
  }

  @Test
  void theEventDescribesItsObjectAtItsTime() {
    Event event = EventRecorder.build(ABOUT, EventRecorder.WARNING, "Reason", "message", NOW);
    assertThat(event.getInvolvedObject().getName()).isEqualTo("a");
    assertThat(event.getMetadata().getNamespace()).isEqualTo("ns");
    assertThat(event.getMetadata().getName()).startsWith("a.");
    assertThat(event.getLastTimestamp()).isEqualTo("2026-11-25T10:00:00Z");
    assertThat(event.getType()).isEqualTo("Warning");
  }
}
