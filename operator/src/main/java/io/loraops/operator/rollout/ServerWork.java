package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * Runs each primary's calls to inference servers (a loader's run, unloads) on worker threads, never
 * on a reconcile thread: a load may take a minute and a hung server holds a call until its timeout,
 * and reconcile threads held that long stall every other adapter.
 *
 * <p>At most one piece of work runs per primary. When it ends, its result is kept (the newest per
 * primary, with the inputs it was started from) and the primary is reconciled again through {@link
 * #events()}; that reconcile records the result in status and decides, with {@link #due}, whether
 * to start the next piece. Results live in memory only: after an operator restart the first work
 * asks the servers again, which is why every loader reads what the pods serve before it acts.
 *
 * <p>Threads are created on demand and end when idle, so there are never more than the primaries
 * with work in flight; a thread held by a hung server is freed by the client's timeout.
 */
public final class ServerWork<P extends HasMetadata, R> {
  private static final Logger LOG = Logger.getLogger(ServerWork.class);
  private static final AtomicInteger THREADS = new AtomicInteger();

  /** A finished piece of work: the inputs it started from, and its result or why it has none. */
  public record Finished<R>(Object inputs, R result, String failure, Instant at) {}

  private record Entry<R>(Object runningInputs, Finished<R> last) {
    boolean busy() {
      return runningInputs != null;
    }
  }

  private final Map<ResourceID, Entry<R>> entries = new ConcurrentHashMap<>();
  private final SimpleInboundEventSource<P> events = new SimpleInboundEventSource<>("server-work");
  private final ExecutorService workers =
      Executors.newCachedThreadPool(
          work -> {
            Thread t = new Thread(work, "server-work-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            return t;
          });
  private final Supplier<Instant> clock;

  public ServerWork(Supplier<Instant> clock) {
    this.clock = clock;
  }

  /** The event source that reconciles a primary when its work has finished. */
  public SimpleInboundEventSource<P> events() {
    return events;
  }

  public boolean busy(ResourceID primary) {
    Entry<R> e = entries.get(primary);
    return e != null && e.busy();
  }

  /** The newest finished work of {@code primary}, if any finished since the operator started. */
  public Optional<Finished<R>> last(ResourceID primary) {
    Entry<R> e = entries.get(primary);
    return e == null ? Optional.empty() : Optional.ofNullable(e.last());
  }

  /**
   * Whether new work is due: none has finished yet, the inputs changed since the last one started,
   * or the last one asked to be looked at again by now.
   *
   * @param lookAgain how long after it finished the last work wanted the next
   */
  public static boolean due(
      Optional<? extends Finished<?>> last, Object inputs, Duration lookAgain, Instant now) {
    return last.isEmpty()
        || !last.get().inputs().equals(inputs)
        || !now.isBefore(last.get().at().plus(lookAgain));
  }

  /**
   * Starts {@code work} for {@code primary} unless work is running for it already; returns whether
   * it started. The work's exception, if it throws, becomes the finished work's failure.
   */
  public boolean start(ResourceID primary, Object inputs, Supplier<R> work) {
    boolean[] started = {false};
    entries.compute(
        primary,
        (id, e) -> {
          if (e != null && e.busy()) {
            return e;
          }
          started[0] = true;
          return new Entry<>(inputs, e == null ? null : e.last());
        });
    if (started[0]) {
      workers.execute(() -> run(primary, inputs, work));
    }
    return started[0];
  }

  private void run(ResourceID primary, Object inputs, Supplier<R> work) {
    R result = null;
    String failure = null;
    try {
      result = work.get();
    } catch (RuntimeException e) {
      LOG.errorf(e, "%s: server work failed", primary);
      failure = String.valueOf(e.getMessage());
    }
    Finished<R> finished = new Finished<>(inputs, result, failure, clock.get());
    entries.computeIfPresent(primary, (id, e) -> new Entry<>(null, finished));
    events.propagateEvent(primary);
  }

  /** Drops what is kept for a primary that is gone (its running work, if any, still ends). */
  public void forget(ResourceID primary) {
    entries.remove(primary);
  }
}
