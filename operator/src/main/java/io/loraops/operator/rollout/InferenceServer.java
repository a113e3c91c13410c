package io.loraops.operator.rollout;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The part of an inference server's API a rollout uses (vLLM's OpenAI-compatible server, or the
 * project's {@code lora-trainer serve}): what it serves, loading and unloading adapters, and a
 * probe completion. {@link HttpInferenceServer} speaks it over HTTP; tests use an in-memory fake,
 * so the loaders can be tested without servers.
 */
public interface InferenceServer {

  /** A server answered with an error, or could not be reached. */
  class ServerException extends Exception {
    public ServerException(String message) {
      super(message);
    }
  }

  /** A server that gave no answer in time: it could not be connected to, or did not answer. */
  class NoAnswer extends ServerException {
    public NoAnswer(String message) {
      super(message);
    }
  }

  /** Where a pod's server listens. */
  record Endpoint(String pod, String ip, int port) {
    /** The server of a pod (which must have an IP: see {@link ServingTargets#servable}). */
    public static Endpoint of(io.fabric8.kubernetes.api.model.Pod pod, int port) {
      return new Endpoint(pod.getMetadata().getName(), pod.getStatus().getPodIP(), port);
    }

    URI uri(String path) {
      String host = ip.contains(":") ? "[" + ip + "]" : ip;
      return URI.create("http://" + host + ":" + port + path);
    }
  }

  /**
   * What a server serves: its base model ({@code id}, the served name, and {@code root}, what it
   * was started with) and its adapters, each served name mapped to its {@code root}, the path
   * loaded.
   */
  record Models(String baseId, String baseRoot, Map<String, String> adapters) {}

  /**
   * A greedy completion's answer, as the probe gate reads it.
   *
   * @param took from request to answer
   * @param text the completion
   * @param tokens tokens generated ({@code usage.completion_tokens})
   * @param finishReason {@code stop} or {@code length}
   * @param logprobs each generated token's log-probability (NaN where the server sent NaN)
   */
  record Answer(
      Duration took, String text, int tokens, String finishReason, List<Double> logprobs) {}

  /**
   * The same client (and connection pool) sending {@code apiKey} as {@code Authorization: Bearer},
   * as a server started with vLLM's {@code --api-key} wants on every {@code /v1} route.
   */
  InferenceServer withApiKey(String apiKey);

  /** What the server serves ({@code GET /v1/models}). */
  Models models(Endpoint server) throws ServerException;

  /**
   * Loads {@code path} under {@code name}; with {@code inPlace} an existing name is re-pointed to
   * the new weights in one step (vLLM's {@code load_inplace}), which is how the alias moves.
   */
  void load(Endpoint server, String name, String path, boolean inPlace) throws ServerException;

  /** Unloads {@code name}; a name the server does not know is already unloaded. */
  void unload(Endpoint server, String name) throws ServerException;

  /**
   * Sends a greedy completion request to {@code model}, asking for the tokens' log-probabilities;
   * an answer later than {@code bound} (plus a second's grace) is not waited for.
   */
  Answer complete(Endpoint server, String model, String prompt, int maxTokens, Duration bound)
      throws ServerException;
}
