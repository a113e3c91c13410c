package io.loraops.trainer.serve;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.contract.ExitCodes;
import io.loraops.trainer.TrainerException;
import io.loraops.trainer.data.ChatFormat;
import io.loraops.trainer.data.TextTokenizer;
import io.loraops.trainer.lora.LoraInjector;
import io.loraops.trainer.lora.LoraLinear;
import io.loraops.trainer.lora.LoraSpec;
import io.loraops.trainer.lora.PeftAdapter;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.KvCache;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.Tensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * One frozen base model and the LoRA adapters loaded onto it by name, unmerged, so that every
 * request picks its adapter (or none) and base weights are never written.
 *
 * <p>Concurrency: forward passes run one request at a time under a fair lock (tiny models; a
 * request keeps the lock for all its tokens). Loads and unloads are serialized among themselves;
 * they read and check the files into fresh tensors without the lock and take it only to swap, so a
 * request in flight finishes on the weights it started with, the next one sees the new ones, and a
 * failed load changes nothing.
 *
 * <p>Capacity, as vLLM: any number of adapters may be loaded (registered by name and path), but
 * only {@code maxCpuLoras} keep their weights in memory. Loading or using one more evicts the least
 * recently used adapter's weights; a request for an evicted adapter reads them again from its path
 * first. A request uses one adapter, so vLLM's {@code --max-loras} (adapters per batch) never binds
 * here.
 */
public final class InferenceEngine implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * An adapter held for serving.
   *
   * @param name the model name requests use
   * @param path {@code lora_path} as given (what {@code /v1/models} reports), where its files are
   * @param spec its rank, alpha and targets
   * @param layers how many linear layers it adapts
   * @param created load time, epoch seconds
   * @param tensors owns its A and B; closed when it is unloaded, replaced or evicted (null while
   *     evicted: the next request that uses it reads it again from {@code path})
   */
  public record Adapter(
      String name, String path, LoraSpec spec, int layers, long created, NDManager tensors) {

    boolean resident() {
      return tensors != null;
    }
  }

  /**
   * A finished completion.
   *
   * @param text the generated text, without the stop token and without a matched stop string
   * @param promptTokens tokens in the prompt
   * @param completionTokens tokens generated (a stop token that ended it included)
   * @param finishReason {@code stop} (EOS or a stop string) or {@code length}
   * @param steps each generated token with its log-probability (EOS included)
   */
  public record Completion(
      String text, int promptTokens, int completionTokens, String finishReason, List<Step> steps) {}

  /**
   * One generated token: its id, its log-probability under the model's raw logits (as vLLM's
   * default {@code raw_logprobs}), and the most likely tokens at that position when asked for.
   */
  public record Step(int token, double logprob, List<Candidate> top) {}

  /** A token the model considered at a position, with its log-probability. */
  public record Candidate(int token, double logprob) {}

  /**
   * The most {@code top_logprobs} a request may ask for, as vLLM's default {@code max_logprobs}.
   */
  public static final int MAX_TOP_LOGPROBS = 20;

  private final NDManager manager;
  private final CausalLM model;
  private final TextTokenizer tokenizer;
  private final Set<Integer> stopTokens; // EOS and every eos_token_id the model lists
  private final String servedName;
  private final String modelPath;
  private final int maxCpuLoras;
  private final long created = System.currentTimeMillis() / 1000;
  private final ReentrantLock generation = new ReentrantLock(true);
  private final Object registry = new Object();
  private volatile Map<String, Adapter> adapters = Map.of(); // copy-on-write, in load order

  /** Names of adapters whose weights are in memory, least recently used first (generation lock). */
  private final LinkedHashMap<String, Boolean> residentByUse = new LinkedHashMap<>(16, 0.75f, true);

  private InferenceEngine(
      NDManager manager,
      CausalLM model,
      TextTokenizer tokenizer,
      Set<Integer> stopTokens,
      String servedName,
      String modelPath,
      int maxCpuLoras) {
    this.manager = manager;
    this.model = model;
    this.tokenizer = tokenizer;
    this.stopTokens = stopTokens;
    this.servedName = servedName;
    this.modelPath = modelPath;
    this.maxCpuLoras = maxCpuLoras;
  }

  /**
   * Loads the base model at {@code modelPath}; a missing or malformed model is a bad config (exit
   * code 2).
   *
   * @param maxCpuLoras how many adapters keep their weights in memory at once
   */
  public static InferenceEngine load(String modelPath, String servedName, int maxCpuLoras) {
    Path dir = Path.of(modelPath);
    NDManager manager = NDManager.newBaseManager();
    try {
      CausalLM model = ModelLoader.load(dir, manager);
      TextTokenizer tokenizer = TextTokenizer.load(dir, model.config());
      return new InferenceEngine(
          manager, model, tokenizer, tokenizer.stopIds(), servedName, modelPath, maxCpuLoras);
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  public String servedName() {
    return servedName;
  }

  /** The base model folder as given on the command line. */
  public String modelPath() {
    return modelPath;
  }

  public long created() {
    return created;
  }

  /** The longest prompt + completion, in tokens. */
  public int maxModelLen() {
    return model.config().maxPositions();
  }

  public int vocabSize() {
    return model.config().vocabSize();
  }

  /** Adapters held now, in load order (a replaced adapter keeps its place). */
  public List<Adapter> adapters() {
    return List.copyOf(adapters.values());
  }

  public int adapterCount() {
    return adapters.size();
  }

  /**
   * Loads the adapter at {@code path} as {@code name}. With {@code inplace}, an adapter already
   * held under {@code name} is replaced atomically; otherwise that is an error.
   *
   * @return the adapter now held, and whether it replaced one
   * @throws ApiException 400 naming what is wrong; nothing held before changes
   */
  public LoadResult loadAdapter(String name, String path, boolean inplace) {
    if (name == null || name.isBlank() || path == null || path.isBlank()) {
      throw ApiException.badRequest("Both 'lora_name' and 'lora_path' must be provided.");
    }
    if (name.equals(servedName)) {
      throw ApiException.badRequest(
          "lora_name '" + name + "' is the name of the base model; choose another name");
    }
    synchronized (registry) {
      Adapter old = adapters.get(name);
      if (old != null && !inplace) {
        throw ApiException.badRequest("The lora adapter '" + name + "' has already been loaded.");
      }
      Path dir = Path.of(path);
      checkFiles(name, path, dir);
      NDManager tensors = manager.newSubManager();
      boolean held = false;
      try {
        PeftAdapter.Loaded loaded;
        try {
          loaded = PeftAdapter.load(dir, model, tensors);
        } catch (TrainerException e) {
          throw ApiException.badRequest("cannot load adapter '" + name + "': " + e.getMessage());
        }
        Adapter adapter =
            new Adapter(
                name,
                path,
                loaded.spec(),
                loaded.factors().size(),
                System.currentTimeMillis() / 1000,
                tensors);
        swap(name, adapter, loaded);
        held = true;
        return new LoadResult(adapter, old != null);
      } finally {
        if (!held) {
          tensors.close(); // a failed load leaves nothing behind
        }
      }
    }
  }

  /**
   * The adapter now held and whether it replaced one of the same name.
   *
   * @param adapter the adapter
   * @param replaced whether an adapter of that name was held before
   */
  public record LoadResult(Adapter adapter, boolean replaced) {}

  /** Unloads {@code name}; 404 if it is not held. */
  public void unloadAdapter(String name) {
    synchronized (registry) {
      Adapter old = adapters.get(name);
      if (old == null) {
        throw ApiException.notFound("The lora adapter '" + name + "' cannot be found.");
      }
      swap(name, null, null);
    }
  }

  /**
   * Puts {@code adapter} (null: nothing) in the place of whatever {@code name} holds, closing the
   * weights it replaces (no forward pass can read them any more), then evicts the least recently
   * used weights beyond {@code maxCpuLoras}.
   */
  private void swap(String name, Adapter adapter, PeftAdapter.Loaded loaded) {
    generation.lock();
    try {
      Adapter current = adapters.get(name);
      if (current != null && current.resident()) {
        model.linears().values().forEach(l -> l.removeNamed(name));
        residentByUse.remove(name);
        current.tensors().close();
      }
      if (adapter != null) {
        float scale = loaded.spec().scale();
        loaded
            .factors()
            .forEach((l, ab) -> l.putNamed(name, new LoraLinear.Factors(ab[0], ab[1], scale)));
        residentByUse.put(name, Boolean.TRUE);
      }
      register(name, adapter);
      while (residentByUse.size() > maxCpuLoras) {
        evict(residentByUse.keySet().iterator().next());
      }
    } finally {
      generation.unlock();
    }
  }

  /** Registers {@code adapter} under {@code name} (null: removes it), keeping its place. */
  private void register(String name, Adapter adapter) {
    Map<String, Adapter> next = new LinkedHashMap<>(adapters);
    if (adapter == null) {
      next.remove(name);
    } else {
      next.put(name, adapter);
    }
    adapters = Collections.unmodifiableMap(next);
  }

  /** Drops {@code name}'s weights from memory; it stays loaded and is read again when used. */
  private void evict(String name) {
    Adapter a = adapters.get(name);
    model.linears().values().forEach(l -> l.removeNamed(name));
    residentByUse.remove(name);
    a.tensors().close();
    register(name, new Adapter(a.name(), a.path(), a.spec(), a.layers(), a.created(), null));
  }

  /**
   * The adapter's weights in memory for a request (under the generation lock): read again from its
   * path if they were evicted, marked most recently used.
   *
   * @throws ApiException 500 when an evicted adapter's files cannot be read any more
   */
  private Adapter resident(Adapter adapter) {
    if (adapter.resident()) {
      residentByUse.get(adapter.name()); // marks it used
      return adapter;
    }
    NDManager tensors = manager.newSubManager();
    try {
      PeftAdapter.Loaded loaded = PeftAdapter.load(Path.of(adapter.path()), model, tensors);
      Adapter back =
          new Adapter(
              adapter.name(),
              adapter.path(),
              loaded.spec(),
              loaded.factors().size(),
              adapter.created(),
              tensors);
      swap(adapter.name(), back, loaded);
      return back;
    } catch (RuntimeException e) { // a TrainerException: files gone or changed
      tensors.close();
      throw ApiException.internal(
          "adapter '"
              + adapter.name()
              + "' was evicted from memory (--max-cpu-loras "
              + maxCpuLoras
              + ") and cannot be read again from "
              + adapter.path()
              + ": "
              + e.getMessage());
    }
  }

  /**
   * Checks that the adapter's files can be read and that it was trained for this base model ({@code
   * base_model_name_or_path} equal to the served name, the model folder's name or path; skipped
   * when empty).
   */
  private void checkFiles(String name, String path, Path dir) {
    String prefix = "cannot load adapter '" + name + "': ";
    if (!Files.exists(dir)) {
      // vLLM's status and words for a path that does not exist
      throw ApiException.notFound("Loading lora " + name + " failed: No adapter found for " + path);
    }
    if (!Files.isDirectory(dir)) {
      throw ApiException.badRequest(prefix + "lora_path " + path + " is not a folder");
    }
    for (String f : List.of(PeftAdapter.CONFIG_FILE, PeftAdapter.WEIGHTS_FILE)) {
      if (!Files.isRegularFile(dir.resolve(f)) || !Files.isReadable(dir.resolve(f))) {
        throw ApiException.badRequest(prefix + "lora_path " + path + " has no readable " + f);
      }
    }
    JsonNode config;
    try {
      config = JSON.readTree(dir.resolve(PeftAdapter.CONFIG_FILE).toFile());
    } catch (IOException e) {
      throw ApiException.badRequest(
          prefix + PeftAdapter.CONFIG_FILE + " is not valid JSON: " + e.getMessage());
    }
    String declared = config == null ? "" : config.path("base_model_name_or_path").asText("");
    if (!PeftAdapter.baseMatches(declared, servedName, modelPath)) {
      throw ApiException.badRequest(
          prefix
              + "it was trained on base model '"
              + declared
              + "' ("
              + PeftAdapter.CONFIG_FILE
              + " base_model_name_or_path) but this server serves '"
              + servedName
              + "' (model "
              + modelPath
              + "); load it on a server of its base model");
    }
  }

  /** Prompt tokens of {@code text}. */
  public int[] encode(String text) {
    return tokenizer.encode(text);
  }

  /**
   * Prompt tokens of a chat, rendered with the model's chat template as the trainer renders chat
   * data; a conversation the template refuses (raise_exception) is the client's error (400).
   */
  public int[] encodeChat(List<ChatFormat.Message> messages, Map<String, Object> kwargs) {
    try {
      return ChatFormat.generationPrompt(tokenizer, messages, kwargs);
    } catch (TrainerException e) {
      throw e.exitCode() == ExitCodes.DATA_ERROR ? ApiException.badRequest(e.getMessage()) : e;
    }
  }

  /** Whether {@code name} is the base model or a held adapter. */
  /** Whether {@code token} ends a completion (it is left out of the text). */
  public boolean ends(int token) {
    return stopTokens.contains(token);
  }

  /** Text of {@code ids}, special tokens left out. */
  public String decode(int[] ids) {
    return tokenizer.decode(ids);
  }

  /** One token as text, for log-probability listings. */
  public String tokenText(int id) {
    return tokenizer.token(id);
  }

  public boolean knows(String name) {
    return servedName.equals(name) || adapters.containsKey(name);
  }

  /**
   * Generates up to {@code maxTokens} tokens after {@code prompt} with model {@code modelName} (the
   * served name: the base alone; an adapter's name: that adapter on the base).
   *
   * @param temperature {@code <= 0}: greedy; otherwise sampling from softmax(logits / t)
   * @param seed fixes sampling; null: a fresh seed
   * @param stop strings that end the completion (left out of the text)
   * @param topLogprobs how many of the most likely tokens to report per position (0: none)
   * @param onStep told of each generated token as it is chosen (null: nobody), under the engine's
   *     lock: a streamed answer is written from here
   * @throws ApiException 404 for an unknown model, 400 for a prompt too long for the model, 500
   *     when the logits are not finite (a corrupt or diverged adapter)
   */
  public Completion complete(
      String modelName,
      int[] prompt,
      int maxTokens,
      double temperature,
      Long seed,
      List<String> stop,
      int topLogprobs,
      Consumer<Step> onStep) {
    if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) {
      throw ApiException.badRequest(
          "logprobs must be between 0 and " + MAX_TOP_LOGPROBS + ", got " + topLogprobs);
    }
    if (prompt.length == 0) {
      throw ApiException.badRequest("the prompt is empty (no tokens)");
    }
    if (maxTokens < 1) {
      throw ApiException.badRequest("max_tokens must be at least 1, got " + maxTokens);
    }
    if (maxTokens > maxModelLen() - prompt.length) { // no int overflow for a huge max_tokens
      throw ApiException.badRequest(
          "This model's maximum context length is "
              + maxModelLen()
              + " tokens. However, you requested "
              + (prompt.length + maxTokens)
              + " tokens ("
              + prompt.length
              + " in the messages, "
              + maxTokens
              + " in the completion). Please reduce the length of the messages or completion.");
    }
    SplittableRandom random = seed == null ? new SplittableRandom() : new SplittableRandom(seed);
    generation.lock();
    try {
      Adapter adapter = null;
      if (!servedName.equals(modelName)) {
        adapter = adapters.get(modelName);
        if (adapter == null) {
          throw ApiException.notFound("The model `" + modelName + "` does not exist.");
        }
        adapter = resident(adapter);
      }
      LoraInjector.activate(model, adapter == null ? null : adapter.name());
      int[] ids = Arrays.copyOf(prompt, prompt.length + maxTokens);
      int n = prompt.length;
      String finish = "length";
      String text = null;
      List<Step> steps = new ArrayList<>();
      // The prompt runs once; then each step runs only the token it added, attending to the
      // keys and values cached for everything before it.
      try (KvCache cache = new KvCache(manager, model.config().layers())) {
        while (n < prompt.length + maxTokens) {
          float[] logits;
          try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            int from = cache.length(); // 0 for the prompt, then n - 1
            long[] row = new long[n - from];
            for (int i = from; i < n; i++) {
              row[i - from] = ids[i];
            }
            logits =
                model
                    .lastLogits(Tensors.longs(manager, row, new Shape(1, row.length)), cache)
                    .toFloatArray();
          }
          checkFinite(logits, modelName, adapter, n - prompt.length);
          int next = temperature <= 0 ? argmax(logits) : sample(logits, temperature, random);
          Step step = step(logits, next, topLogprobs);
          steps.add(step);
          ids[n++] = next;
          if (onStep != null) {
            onStep.accept(step);
          }
          if (stopTokens.contains(next)) {
            finish = "stop";
            break;
          }
          if (!stop.isEmpty()) {
            String sofar = tokenizer.decode(Arrays.copyOfRange(ids, prompt.length, n));
            int cut = firstStop(sofar, stop);
            if (cut >= 0) {
              text = sofar.substring(0, cut);
              finish = "stop";
              break;
            }
          }
        }
      }
      int[] generated = Arrays.copyOfRange(ids, prompt.length, n);
      int[] visible =
          finish.equals("stop") && text == null
              ? Arrays.copyOf(generated, generated.length - 1) // without the stop token
              : generated;
      if (text == null) {
        text = tokenizer.decode(visible);
      }
      return new Completion(text, prompt.length, generated.length, finish, List.copyOf(steps));
    } finally {
      LoraInjector.activate(model, null);
      generation.unlock();
    }
  }

  private static void checkFinite(float[] logits, String modelName, Adapter adapter, int token) {
    for (float v : logits) {
      if (!Float.isFinite(v)) {
        throw ApiException.internal(
            "model '"
                + modelName
                + "' produced non-finite logits (NaN or Inf) at completion token "
                + token
                + (adapter == null
                    ? ": the base model's weights are corrupt"
                    : ": adapter '"
                        + adapter.name()
                        + "' ("
                        + adapter.path()
                        + ") has corrupt or diverged weights; unload it or load a good version"));
      }
    }
  }

  private static int firstStop(String text, List<String> stop) {
    int best = -1;
    for (String s : stop) {
      int i = s.isEmpty() ? -1 : text.indexOf(s);
      if (i >= 0 && (best < 0 || i < best)) {
        best = i;
      }
    }
    return best;
  }

  /** Log-softmax at {@code token} (and the {@code top} most likely tokens), in double. */
  static Step step(float[] logits, int token, int top) {
    double max = logits[argmax(logits)];
    double sum = 0;
    for (float v : logits) {
      sum += Math.exp(v - max);
    }
    double logZ = max + Math.log(sum);
    List<Candidate> candidates = new ArrayList<>(top);
    for (int id : topIds(logits, Math.min(top, logits.length))) {
      candidates.add(new Candidate(id, logits[id] - logZ));
    }
    return new Step(token, logits[token] - logZ, List.copyOf(candidates));
  }

  /**
   * The {@code k} ids with the largest logits, largest first, equal logits in id order: one pass
   * keeping the best k in order (k is at most {@link #MAX_TOP_LOGPROBS}), not a sort of the whole
   * vocabulary on every token.
   */
  static int[] topIds(float[] logits, int k) {
    int[] best = new int[k];
    if (k == 0) {
      return best;
    }
    int held = 0;
    for (int id = 0; id < logits.length; id++) {
      if (held == k && !(logits[id] > logits[best[k - 1]])) {
        continue;
      }
      int at = held == k ? k - 1 : held++;
      while (at > 0 && logits[id] > logits[best[at - 1]]) {
        best[at] = best[at - 1];
        at--;
      }
      best[at] = id;
    }
    return best;
  }

  static int argmax(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }

  static int sample(float[] logits, double temperature, SplittableRandom random) {
    double max = logits[argmax(logits)];
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < p.length; i++) {
      p[i] = Math.exp((logits[i] - max) / temperature);
      sum += p[i];
    }
    double u = random.nextDouble() * sum;
    for (int i = 0; i < p.length; i++) {
      u -= p[i];
      if (u < 0) {
        return i;
      }
    }
    return p.length - 1;
  }

  /** Runs one token through the model so the first request does not pay for warming up. */
  public void warmUp() {
    try {
      complete(servedName, new int[] {tokenizer.eosId()}, 1, 0, null, List.of(), 0, null);
    } catch (ApiException e) {
      // A broken base model is reported on every request; starting up is still useful for that.
    }
  }

  @Override
  public void close() {
    generation.lock();
    try {
      tokenizer.close();
      manager.close();
    } finally {
      generation.unlock();
    }
  }
}
