package io.loraops.operator.rollout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An in-memory {@link InferenceServer} for the loaders' unit tests: one server per pod name, each
 * serving {@link #BASE} and the adapters loaded into it, recording every load. Paths in {@link
 * #broken} answer probes as vLLM answers NaN weights (200, no text); pods in {@link #down} are
 * unreachable.
 */
class FakeInferenceServer implements InferenceServer {
  static final String BASE = "tiny-llama-h32";

  /** pod -> (served name -> path). */
  final Map<String, Map<String, String>> servers = new ConcurrentHashMap<>();

  /** Every load, in order: "pod name=path". */
  final List<String> loads = new ArrayList<>();

  final Set<String> broken = ConcurrentHashMap.newKeySet();

  /** Adapter paths that answer with near-certain log-probabilities (finite, broken weights). */
  final Set<String> overconfident = ConcurrentHashMap.newKeySet();

  final Set<String> down = ConcurrentHashMap.newKeySet();

  private Map<String, String> of(Endpoint pod) throws ServerException {
    if (down.contains(pod.pod())) {
      throw new ServerException("pod " + pod.pod() + ": cannot connect");
    }
    return servers.computeIfAbsent(pod.pod(), p -> new LinkedHashMap<>());
  }

  @Override
  public InferenceServer withApiKey(String apiKey) {
    return this;
  }

  @Override
  public Models models(Endpoint pod) throws ServerException {
    return new Models(BASE, "/models/" + BASE, Map.copyOf(of(pod)));
  }

  @Override
  public void load(Endpoint pod, String name, String path, boolean inPlace) throws ServerException {
    Map<String, String> loaded = of(pod);
    if (loaded.containsKey(name) && !inPlace) {
      throw new ServerException("The lora adapter '" + name + "' has already been loaded.");
    }
    loaded.put(name, path);
    synchronized (loads) {
      loads.add(pod.pod() + " " + name + "=" + path);
    }
  }

  @Override
  public void unload(Endpoint pod, String name) throws ServerException {
    of(pod).remove(name);
  }

  @Override
  public Answer complete(Endpoint pod, String model, String prompt, int maxTokens, Duration bound)
      throws ServerException {
    Map<String, String> loaded = of(pod);
    if (!model.equals(BASE) && !loaded.containsKey(model)) {
      throw new ServerException("pod " + pod.pod() + ": model " + model + " does not exist");
    }
    String path = loaded.get(model);
    if (path != null && broken.contains(path)) {
      return new Answer(Duration.ofMillis(5), "", maxTokens, "length", List.of());
    }
    List<Double> logprobs = new ArrayList<>();
    for (int i = 0; i < maxTokens; i++) {
      logprobs.add(path != null && overconfident.contains(path) ? -0.001 : -1.0);
    }
    return new Answer(Duration.ofMillis(5), " ok", maxTokens, "length", logprobs);
  }
}
