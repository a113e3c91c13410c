package io.loraops.operator.rollout;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * An {@link InferenceServer} that sends at most {@code perServer} calls at a time to one server,
 * however many adapters roll out to it: vLLM loads adapters one at a time anyway, and a burst of
 * loads and probes from many adapters would only queue inside the server, where a probe's latency
 * bound would count the queue against the version under test. A call waits for its turn at most
 * {@code wait}, then fails like a server that gave no answer.
 */
public final class BoundedServers implements InferenceServer {
  private final InferenceServer delegate;
  private final int perServer;
  private final Duration wait;
  private final Map<String, Semaphore> turns; // "ip:port" -> its turns, shared by every API key

  public BoundedServers(InferenceServer delegate, int perServer, Duration wait) {
    this(delegate, perServer, wait, new ConcurrentHashMap<>());
  }

  private BoundedServers(
      InferenceServer delegate, int perServer, Duration wait, Map<String, Semaphore> turns) {
    this.delegate = delegate;
    this.perServer = perServer;
    this.wait = wait;
    this.turns = turns;
  }

  @Override
  public InferenceServer withApiKey(String apiKey) {
    return new BoundedServers(delegate.withApiKey(apiKey), perServer, wait, turns);
  }

  /** A call to one server that may fail as the server would. */
  private interface Call<T> {
    T send() throws ServerException;
  }

  private <T> T inTurn(Endpoint server, Call<T> call) throws ServerException {
    Semaphore semaphore =
        turns.computeIfAbsent(server.ip() + ":" + server.port(), k -> new Semaphore(perServer));
    try {
      if (!semaphore.tryAcquire(wait.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new NoAnswer(
            "pod "
                + server.pod()
                + ": "
                + perServer
                + " calls to its server were still unanswered after "
                + wait.toSeconds()
                + " s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new NoAnswer("pod " + server.pod() + ": interrupted while waiting for its server");
    }
    try {
      return call.send();
    } finally {
      semaphore.release();
    }
  }

  @Override
  public Models models(Endpoint server) throws ServerException {
    return inTurn(server, () -> delegate.models(server));
  }

  @Override
  public void load(Endpoint server, String name, String path, boolean inPlace)
      throws ServerException {
    inTurn(
        server,
        () -> {
          delegate.load(server, name, path, inPlace);
          return null;
        });
  }

  @Override
  public void unload(Endpoint server, String name) throws ServerException {
    inTurn(
        server,
        () -> {
          delegate.unload(server, name);
          return null;
        });
  }

  @Override
  public Answer complete(
      Endpoint server, String model, String prompt, int maxTokens, Duration bound)
      throws ServerException {
    return inTurn(server, () -> delegate.complete(server, model, prompt, maxTokens, bound));
  }
}
