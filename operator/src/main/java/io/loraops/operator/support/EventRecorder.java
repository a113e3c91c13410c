package io.loraops.operator.support;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.jboss.logging.Logger;

/**
 * Writes core/v1 Events about our objects, so {@code kubectl describe} and {@code kubectl events}
 * tell the story. Best effort and asynchronous, as client-go's EventBroadcaster and recorder:
 * {@link #record} builds the Event on the caller's thread and queues it; one writer thread creates
 * the queued Events in order; a failed write is logged and never fails the reconcile it describes.
 *
 * <p>Why not write on the reconcile thread: an Event is a best-effort write, and a reconcile thread
 * makes no blocking network call beyond the state its reconcile owns (the children, the status).
 * Why one writer: in a burst (a thousand LoraJobs applied at once) the Events then take one
 * connection's turn at the API server instead of competing with the 50 reconcile threads' writes
 * that do the work, as client-go's single recording goroutine does; they arrive a little later.
 *
 * <p>One instance serves the whole operator (produced once, see {@code SettingsProducer}); close it
 * on shutdown to give what is queued a short time to be written.
 */
public final class EventRecorder implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(EventRecorder.class);
  public static final String NORMAL = "Normal";
  public static final String WARNING = "Warning";

  /**
   * Events waiting to be written, at most. client-go queues 1,000 per broadcaster (record's {@code
   * maxQueuedEvents}) and drops the rest; ours is larger because one of our bursts is bigger: every
   * LoraJob of a large apply records its start within seconds (1,000 at the scale benchmark), and a
   * sweep's trials ending together add one each (4 per LoraJob there). An Event is about 1 KiB on
   * the heap, so a full queue holds about 10 MiB: bounded, and small beside the informers.
   */
  static final int QUEUE_CAPACITY = 10_000;

  /** How long {@link #close} waits for queued Events to be written. */
  static final Duration CLOSE_GRACE = Duration.ofSeconds(3);

  private final ThreadPoolExecutor writer;
  private final BiConsumer<KubernetesClient, Event> write;

  public EventRecorder() {
    this(QUEUE_CAPACITY, EventRecorder::create);
  }

  /** With a smaller queue and another way to write, for tests. */
  EventRecorder(int capacity, BiConsumer<KubernetesClient, Event> write) {
    this.write = write;
    // One thread, and only while there is work: it ends after a minute without Events.
    this.writer =
        new ThreadPoolExecutor(
            1,
            1,
            60,
            TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(capacity),
            runnable -> {
              Thread thread = new Thread(runnable, "event-writer");
              thread.setDaemon(true);
              return thread;
            },
            (runnable, executor) -> {
              // Dropped, as client-go drops what its full queue cannot take.
              if (executor.isShutdown()) {
                LOG.warnf("the event recorder is closed: dropped event %s", runnable);
              } else {
                LOG.warnf("too many queued events (%d): dropped event %s", capacity, runnable);
              }
            });
    this.writer.allowCoreThreadTimeOut(true);
  }

  /**
   * Queues an Event about {@code about} and returns at once; {@code now} is the Event's time, so a
   * late write still tells when it happened.
   */
  public void record(
      KubernetesClient client,
      HasMetadata about,
      String type,
      String reason,
      String message,
      Instant now) {
    Event event = build(about, type, reason, message, now);
    writer.execute(new Write(client, event));
  }

  /** Stops taking Events; waits up to {@link #CLOSE_GRACE} for the queued ones to be written. */
  @Override
  public void close() {
    writer.shutdown();
    try {
      if (!writer.awaitTermination(CLOSE_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
        LOG.warnf(
            "%d events not written within %s of shutdown", writer.getQueue().size(), CLOSE_GRACE);
        writer.shutdownNow();
      }
    } catch (InterruptedException e) {
      writer.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  static Event build(HasMetadata about, String type, String reason, String message, Instant now) {
    String name =
        about.getMetadata().getName()
            + "."
            + Long.toHexString(now.toEpochMilli())
            + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000));
    return new EventBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(about.getMetadata().getNamespace())
        .endMetadata()
        .withNewInvolvedObject()
        .withApiVersion(about.getApiVersion())
        .withKind(about.getKind())
        .withName(about.getMetadata().getName())
        .withNamespace(about.getMetadata().getNamespace())
        .withUid(about.getMetadata().getUid())
        .endInvolvedObject()
        .withType(type)
        .withReason(reason)
        .withMessage(message)
        .withFirstTimestamp(now.toString())
        .withLastTimestamp(now.toString())
        .withCount(1)
        .withNewSource()
        .withComponent(Labels.OPERATOR)
        .endSource()
        .withReportingComponent("loraops.io/" + Labels.OPERATOR)
        .build();
  }

  private static void create(KubernetesClient client, Event event) {
    client.v1().events().inNamespace(event.getMetadata().getNamespace()).resource(event).create();
  }

  /** One queued Event; its {@code toString} names it in the log lines about it. */
  private final class Write implements Runnable {
    private final KubernetesClient client;
    private final Event event;

    Write(KubernetesClient client, Event event) {
      this.client = client;
      this.event = event;
    }

    @Override
    public void run() {
      try {
        write.accept(client, event);
      } catch (RuntimeException e) {
        // Any failure (an API server's refusal, a closed client): logged, and the next Event is
        // written all the same.
        LOG.warnf("could not record event %s: %s", this, e.getMessage());
      }
    }

    @Override
    public String toString() {
      var object = event.getInvolvedObject();
      return event.getReason()
          + " on "
          + object.getKind()
          + " "
          + object.getNamespace()
          + "/"
          + object.getName();
    }
  }
}
