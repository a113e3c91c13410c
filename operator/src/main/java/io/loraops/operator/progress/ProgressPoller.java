package io.loraops.operator.progress;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jboss.logging.Logger;

/**
 * Follows running trials' progress lines through the pod log API, off the reconcile threads.
 *
 * <p>Reconciles say which pods to follow ({@link #follow}) and read what is known ({@link
 * #progress}); they never wait for a read. Every {@code interval} one poll reads each followed
 * pod's new lines ({@code sinceTime} = the newest line seen; a pod not read before is read from its
 * start, which is also how the state comes back after an operator restart) on at most {@code
 * readers} threads, folds them into that pod's {@link PodProgress}, and triggers one reconcile per
 * primary whose pods said something new. So a sweep's status changes at most once per interval from
 * progress, however fast its trials step (docs/progress.md has the cost at 100 trials).
 */
public final class ProgressPoller<P extends HasMetadata> implements AutoCloseable {

  private static final Logger LOG = Logger.getLogger(ProgressPoller.class);
  private static final AtomicInteger THREADS = new AtomicInteger();

  /**
   * Bytes read per pod and poll at most: a log read from its start (a new pod, an operator restart)
   * catches up over several polls instead of in one large read.
   */
  static final int LIMIT_BYTES = 1 << 20;

  /** A pod to follow; its uid keys its state, so a retried trial's new pod starts afresh. */
  public record PodRef(String namespace, String name, String uid) {}

  private final PodLogs logs;
  private final String container;
  private final Duration interval;
  private final ExecutorService readers;
  private final ScheduledExecutorService ticker;
  private final Map<ResourceID, Set<PodRef>> followed = new ConcurrentHashMap<>();
  private final Map<String, PodProgress> states = new ConcurrentHashMap<>();
  // Polls while the operator runs: the event source's lifecycle is the operator's.
  private final SimpleInboundEventSource<P> events =
      new SimpleInboundEventSource<>("trial-progress") {
        @Override
        public void start() {
          super.start();
          ProgressPoller.this.start();
        }

        @Override
        public void stop() {
          super.stop();
          close();
        }
      };

  public ProgressPoller(PodLogs logs, String container, Duration interval, int readers) {
    this.logs = logs;
    this.container = container;
    this.interval = interval;
    this.readers = Executors.newFixedThreadPool(readers, daemon("trial-progress-read-"));
    this.ticker = Executors.newSingleThreadScheduledExecutor(daemon("trial-progress-poll-"));
  }

  /**
   * Starts polling (done by {@link #events()}' start); a poll that takes longer than the interval
   * delays the next, never overlaps.
   */
  public ProgressPoller<P> start() {
    ticker.scheduleWithFixedDelay(
        this::pollSafely, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    return this;
  }

  /** The event source that reconciles a primary when its trials reported something new. */
  public SimpleInboundEventSource<P> events() {
    return events;
  }

  /** The pods of {@code primary} to follow from now on; states of pods dropped are forgotten. */
  public void follow(ResourceID primary, Collection<PodRef> pods) {
    Set<PodRef> now = Set.copyOf(pods);
    Set<PodRef> before = now.isEmpty() ? followed.remove(primary) : followed.put(primary, now);
    if (before != null) {
      for (PodRef gone : before) {
        if (!now.contains(gone)) {
          states.remove(gone.uid());
        }
      }
    }
  }

  /** What a followed pod reported so far; empty before its first read. */
  public Optional<PodProgress> progress(String podUid) {
    return Optional.ofNullable(states.get(podUid));
  }

  private void pollSafely() {
    try {
      poll();
    } catch (RuntimeException e) {
      LOG.warnf(e, "progress poll failed");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** One poll over every followed pod (public for tests). */
  public void poll() throws InterruptedException {
    List<Callable<ResourceID>> reads = new ArrayList<>();
    for (Map.Entry<ResourceID, Set<PodRef>> e : followed.entrySet()) {
      for (PodRef pod : e.getValue()) {
        reads.add(() -> read(pod) ? e.getKey() : null);
      }
    }
    Set<ResourceID> changed = new HashSet<>();
    for (var done : readers.invokeAll(reads)) {
      try {
        ResourceID primary = done.get();
        if (primary != null) {
          changed.add(primary);
        }
      } catch (java.util.concurrent.ExecutionException e) {
        LOG.debugf(e.getCause(), "progress read failed; retried at the next poll");
      }
    }
    changed.forEach(events::propagateEvent);
  }

  /** Reads a pod's new lines; whether its state changed. */
  private boolean read(PodRef pod) {
    PodProgress before = states.getOrDefault(pod.uid(), PodProgress.EMPTY);
    String text =
        logs.read(pod.namespace(), pod.name(), container, before.lastLineAt(), LIMIT_BYTES);
    if (text == null) {
      return false; // gone: the next reconcile stops following it
    }
    PodProgress after = before.fold(ProgressLines.parse(text));
    if (after.equals(before)) {
      return false;
    }
    // Unless the reconcile dropped the pod meanwhile, keep what was read.
    if (followedBy(pod)) {
      states.put(pod.uid(), after);
      return true;
    }
    return false;
  }

  private boolean followedBy(PodRef pod) {
    return followed.values().stream().anyMatch(s -> s.contains(pod));
  }

  private static java.util.concurrent.ThreadFactory daemon(String prefix) {
    return work -> {
      Thread t = new Thread(work, prefix + THREADS.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  @Override
  public void close() {
    ticker.shutdownNow();
    readers.shutdownNow();
  }
}
