package io.loraops.operator.rollout;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * An {@link InferenceServer} that does not ask a server again for a while after it gave no answer
 * to a model listing, load or unload: it answers for it at once with the same {@link NoAnswer}.
 * Every reconcile of every LoraAdapter that targets a hung server would otherwise wait out the
 * timeout again on a reconcile thread, and enough of them hold every thread, stalling adapters
 * whose servers are fine. Shared by all reconciles (one instance per operator); probes are not
 * held, since a slow probe is a gate verdict on one version, not a sign the server is gone.
 */
public final class QuietServers implements InferenceServer {
  private final InferenceServer delegate;
  private final Duration hold;
  private final Supplier<Instant> clock;
  private final Map<String, Held> held; // "ip:port" -> since when and until when

  private record Held(Instant until, String failure) {}

  public QuietServers(InferenceServer delegate, Duration hold, Supplier<Instant> clock) {
    this(delegate, hold, clock, new ConcurrentHashMap<>());
  }

  private QuietServers(
      InferenceServer delegate, Duration hold, Supplier<Instant> clock, Map<String, Held> held) {
    this.delegate = delegate;
    this.hold = hold;
    this.clock = clock;
    this.held = held;
  }

  @Override
  public InferenceServer withApiKey(String apiKey) {
    return new QuietServers(delegate.withApiKey(apiKey), hold, clock, held);
  }

  @Override
  public Models models(Endpoint server) throws ServerException {
    checkHeld(server);
    try {
      return delegate.models(server);
    } catch (NoAnswer e) {
      throw hold(server, e);
    }
  }

  @Override
  public void load(Endpoint server, String name, String path, boolean inPlace)
      throws ServerException {
    checkHeld(server);
    try {
      delegate.load(server, name, path, inPlace);
    } catch (NoAnswer e) {
      throw hold(server, e);
    }
  }

  @Override
  public void unload(Endpoint server, String name) throws ServerException {
    checkHeld(server);
    try {
      delegate.unload(server, name);
    } catch (NoAnswer e) {
      throw hold(server, e);
    }
  }

  @Override
  public Answer complete(
      Endpoint server, String model, String prompt, int maxTokens, Duration bound)
      throws ServerException {
    checkHeld(server);
    return delegate.complete(server, model, prompt, maxTokens, bound);
  }

  private static String key(Endpoint server) {
    return server.ip() + ":" + server.port();
  }

  private void checkHeld(Endpoint server) throws NoAnswer {
    Held h = held.get(key(server));
    if (h == null) {
      return;
    }
    if (clock.get().isBefore(h.until())) {
      throw new NoAnswer(h.failure() + "; not asked again until " + h.until());
    }
    held.remove(key(server), h);
  }

  private NoAnswer hold(Endpoint server, NoAnswer e) {
    held.put(key(server), new Held(clock.get().plus(hold), e.getMessage()));
    return e;
  }
}
