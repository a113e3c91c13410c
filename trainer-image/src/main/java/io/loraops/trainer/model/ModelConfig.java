package io.loraops.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The architecture facts the trainer needs from a Hugging Face {@code config.json}, normalised over
 * GPT-2 and the LLaMA-like families ({@code llama}, {@code mistral}, {@code qwen2}, {@code qwen3},
 * {@code phi3}, {@code gemma3_text}) in both the transformers 4 and the transformers 5 layout.
 *
 * <p>The reader is an allow-list ({@link ConfigFields}): every field is either implemented, pinned
 * to the one value the trainer computes with, or known to be harmless; any other field is refused
 * by name (exit code 2), so that no config is ever computed differently from transformers without
 * an error.
 *
 * @param family the {@code model_type}: one of {@link #FAMILIES}
 * @param vocabSize rows of the embedding matrix
 * @param hidden model width (GPT-2 {@code n_embd}, others {@code hidden_size})
 * @param layers transformer blocks
 * @param heads query heads
 * @param kvHeads key/value heads (grouped-query attention when smaller than heads)
 * @param headDim width of one head (may differ from hidden / heads: {@code head_dim})
 * @param intermediate MLP width
 * @param maxPositions longest sequence the model supports
 * @param normEps LayerNorm / RMSNorm epsilon
 * @param rope rotary embedding settings (null for GPT-2)
 * @param localRope rotary embedding settings of sliding-window layers (Gemma 3: {@code
 *     rope_local_base_freq}); the same as {@code rope} for other families
 * @param attentionScale the factor on q·k (1/sqrt(head_dim); Gemma 3: 1/sqrt({@code
 *     query_pre_attn_scalar}))
 * @param gelu whether the MLP gate is the tanh GELU (Gemma 3's {@code gelu_pytorch_tanh}) rather
 *     than SiLU
 * @param gemmaNorms Gemma 3's norms: RMSNorm scales by {@code 1 + w}, attention and MLP outputs are
 *     normed too ({@code post_attention_layernorm}, {@code post_feedforward_layernorm}, with {@code
 *     pre_feedforward_layernorm} before the MLP), and embeddings are multiplied by sqrt(hidden)
 * @param tiedEmbeddings whether the LM head reuses the token embedding
 * @param qkvBias whether the q, k and v projections have biases
 * @param oBias whether the attention output projection has a bias
 * @param mlpBias whether MLP projections have biases
 * @param qkNorm whether q and k get a per-head RMSNorm before RoPE (Qwen3 {@code q_norm}, {@code
 *     k_norm})
 * @param fusedProjections whether q, k, v are one {@code qkv_proj} and gate, up one {@code
 *     gate_up_proj} (Phi-3)
 * @param layerWindows per layer, the sliding attention window (a query sees the keys of the last
 *     {@code window} positions, itself included), 0 for full causal attention
 * @param eosTokenId end-of-sequence id, -1 when the config has none
 * @param padTokenId padding id, -1 when the config has none
 */
public record ModelConfig(
    String family,
    int vocabSize,
    int hidden,
    int layers,
    int heads,
    int kvHeads,
    int headDim,
    int intermediate,
    int maxPositions,
    double normEps,
    Rope rope,
    Rope localRope,
    double attentionScale,
    boolean gelu,
    boolean gemmaNorms,
    boolean tiedEmbeddings,
    boolean qkvBias,
    boolean oBias,
    boolean mlpBias,
    boolean qkNorm,
    boolean fusedProjections,
    List<Integer> layerWindows,
    int eosTokenId,
    int padTokenId) {

  /** The {@code model_type}s the trainer implements. */
  public static final List<String> FAMILIES =
      List.of("gpt2", "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3_text");

  /** Parses {@code <dir>/config.json}; an unsupported architecture is a bad config (exit 2). */
  public static ModelConfig read(Path modelDir) {
    Path file = modelDir.resolve("config.json");
    JsonNode n;
    try {
      n = new ObjectMapper().readTree(Files.readString(file));
    } catch (IOException e) {
      throw TrainerException.badConfig(
          "baseModel.path: cannot read " + file + ": " + e.getMessage());
    }
    if (n == null || !n.isObject()) {
      throw TrainerException.badConfig(file + ": not a JSON object");
    }
    ConfigFields f = new ConfigFields(n, file, "");
    String type = f.text("model_type", "");
    ModelConfig c =
        switch (type) {
          case "gpt2" -> gpt2(f);
          case "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3_text" -> llamaLike(f, type);
          default ->
              throw TrainerException.badConfig(
                  file
                      + ": model_type '"
                      + type
                      + "' is not supported; supported: "
                      + String.join(", ", FAMILIES));
        };
    f.accept(ConfigFields.HARMLESS);
    f.refuseRest("model_type " + type);
    return c;
  }

  private static ModelConfig gpt2(ConfigFields f) {
    int hidden = f.positive("n_embd");
    int heads = f.positive("n_head");
    f.only("activation_function", "GPT-2 uses the tanh GELU", "gelu_new");
    f.only("scale_attn_weights", "attention scores are scaled by 1/sqrt(head_dim)", true);
    f.only("scale_attn_by_inverse_layer_idx", "not implemented", false);
    f.only("reorder_and_upcast_attn", "not implemented", false);
    f.only("add_cross_attention", "decoder-only models only", false);
    // Dropout of the frozen base model is not applied (it runs as in eval mode); LoRA's own
    // dropout is lora.dropout. The sequence-classification head's summary_* fields are unused.
    f.accept(
        List.of(
            "resid_pdrop",
            "embd_pdrop",
            "attn_pdrop",
            "n_ctx",
            "summary_type",
            "summary_use_proj",
            "summary_activation",
            "summary_proj_to_labels",
            "summary_first_dropout"));
    return new ModelConfig(
        "gpt2",
        f.positive("vocab_size"),
        hidden,
        f.positive("n_layer"),
        heads,
        heads,
        hidden / heads,
        f.positive("n_inner", 4 * hidden),
        f.positive("n_positions"),
        f.number("layer_norm_epsilon", 1e-5),
        null,
        null,
        1 / Math.sqrt(hidden / heads),
        true,
        false,
        f.bool("tie_word_embeddings", true),
        true,
        true,
        true,
        false,
        false,
        Collections.nCopies(f.positive("n_layer"), 0),
        firstInt(f.get("eos_token_id")),
        firstInt(f.get("pad_token_id")));
  }

  /**
   * LLaMA and the families that differ from it only in a few switches: biases (Qwen2: q/k/v only),
   * per-head q/k RMSNorm (Qwen3), fused q/k/v and gate/up projections (Phi-3), sliding-window
   * attention (Mistral, Phi-3: every layer; Qwen: the layers {@code layer_types} or {@code
   * max_window_layers} name, when {@code use_sliding_window}; Gemma 3: {@code layer_types} or every
   * layer but each {@code sliding_window_pattern}-th), and Gemma 3's norms, GELU, query scale and
   * local RoPE.
   */
  private static ModelConfig llamaLike(ConfigFields f, String family) {
    int hidden = f.positive("hidden_size");
    int heads = f.positive("num_attention_heads");
    int kvHeads = f.positive("num_key_value_heads", heads);
    if (heads % kvHeads != 0) {
      throw f.bad("num_attention_heads", "must be a multiple of num_key_value_heads");
    }
    int layers = f.positive("num_hidden_layers");
    boolean gemma = family.equals("gemma3_text");
    int headDim =
        f.positive(
            "head_dim",
            switch (family) {
              case "qwen3" -> 128;
              case "gemma3_text" -> 256;
              default -> hidden / heads;
            });
    if (headDim % 2 != 0) {
      throw f.bad("head_dim", "must be even for rotary embeddings");
    }
    int maxPositions =
        f.positive(
            "max_position_embeddings",
            switch (family) {
              case "llama" -> 2048;
              case "mistral" -> 4096 * 32;
              case "phi3" -> 4096;
              case "gemma3_text" -> 131072;
              default -> 32768;
            });
    Rope rope = Rope.read(f);
    Rope localRope =
        gemma ? new Rope("default", f.number("rope_local_base_freq", 10000.0), 1, Map.of()) : rope;
    double attentionScale = 1 / Math.sqrt(gemma ? f.number("query_pre_attn_scalar", 256) : headDim);
    pinUnimplemented(f, family, rope);
    boolean qkvBias;
    boolean oBias;
    boolean mlpBias = false;
    switch (family) {
      case "llama" -> {
        qkvBias = f.bool("attention_bias", false);
        oBias = qkvBias;
        mlpBias = f.bool("mlp_bias", false);
      }
      case "qwen2" -> {
        qkvBias = true;
        oBias = false;
      }
      case "qwen3", "gemma3_text" -> {
        qkvBias = f.bool("attention_bias", false);
        oBias = qkvBias;
      }
      default -> {
        qkvBias = false;
        oBias = false;
      }
    }
    return new ModelConfig(
        family,
        f.positive("vocab_size"),
        hidden,
        layers,
        heads,
        kvHeads,
        headDim,
        f.positive("intermediate_size"),
        maxPositions,
        f.number("rms_norm_eps", 1e-6),
        rope,
        localRope,
        attentionScale,
        gemma,
        gemma,
        f.bool("tie_word_embeddings", gemma),
        qkvBias,
        oBias,
        mlpBias,
        family.equals("qwen3") || gemma,
        family.equals("phi3"),
        windows(f, family, layers),
        firstInt(f.get("eos_token_id")),
        firstInt(f.get("pad_token_id")));
  }

  /**
   * Fields whose other values change the computation in ways the trainer does not implement:
   * accepted only at the value it computes with, else refused by name.
   */
  private static void pinUnimplemented(ConfigFields f, String family, Rope rope) {
    f.only("attention_dropout", "dropout on attention probabilities is not implemented", 0, 0.0);
    switch (family) {
      case "gemma3_text" -> {
        f.only("hidden_activation", "Gemma 3's MLP gate", "gelu_pytorch_tanh");
        f.only("hidden_act", "Gemma 3 reads hidden_activation", "gelu_pytorch_tanh");
        f.only("final_logit_softcapping", "logit soft-capping is not implemented");
        f.only("attn_logit_softcapping", "logit soft-capping is not implemented");
        f.only("use_bidirectional_attention", "the model is causal", false);
        f.accept(List.of("cache_implementation", "_sliding_window_pattern"));
      }
      case "phi3" -> {
        f.only("hidden_act", "the MLP is SwiGLU", "silu");
        // Phi3Config turns rope_scaling types "su" and "yarn" into "longrope", which is not
        // implemented; Phi-3 models without scaling (the 4k ones) have rope_scaling null.
        if (!rope.type().equals("default")) {
          throw f.bad("rope_scaling", "is not supported for phi3 (longrope); supported: null");
        }
        f.only("resid_pdrop", "dropout in the residual stream is not implemented", 0, 0.0);
        f.only("embd_pdrop", "embedding dropout is not implemented", 0, 0.0);
        f.get("original_max_position_embeddings"); // read by longrope only
        f.only("attention_bias", "Phi-3 projections have no biases", false);
      }
      case "llama" -> {
        f.only("hidden_act", "the MLP is SwiGLU", "silu");
        f.only("pretraining_tp", "tensor-parallel slicing of the pretraining run", 1);
      }
      default -> f.only("hidden_act", "the MLP is SwiGLU", "silu");
    }
  }

  /** Per-layer sliding windows, 0 = full attention, read as transformers 4.57 reads them. */
  private static List<Integer> windows(ConfigFields f, String family, int layers) {
    int window;
    List<Integer> result = new ArrayList<>();
    if (family.equals("mistral") || family.equals("phi3")) {
      // No use_sliding_window here: a non-null sliding_window masks every layer.
      window = f.has("sliding_window") ? f.positive("sliding_window") : 0;
      f.get("sliding_window");
      requireAllFull(f, layers);
      return Collections.nCopies(layers, window);
    }
    if (family.equals("llama")) {
      requireAllFull(f, layers);
      return Collections.nCopies(layers, 0);
    }
    if (family.equals("gemma3_text")) {
      // Gemma 3 (transformers 4.57): sliding_window (default 4096) on the layers layer_types marks,
      // else on all but every sliding_window_pattern-th (default 6).
      window = f.positive("sliding_window", 4096);
      int pattern = f.positive("sliding_window_pattern", 6);
      List<String> types = layerTypes(f, layers);
      for (int i = 0; i < layers; i++) {
        boolean sliding =
            types != null ? types.get(i).equals("sliding_attention") : (i + 1) % pattern != 0;
        result.add(sliding ? window : 0);
      }
      return List.copyOf(result);
    }
    // Qwen2 / Qwen3: sliding_window counts only with use_sliding_window (Qwen2.5 and Qwen3 ship
    // sliding_window set and use_sliding_window false).
    boolean use = f.bool("use_sliding_window", false);
    window = use && f.has("sliding_window") ? f.positive("sliding_window") : 0;
    f.get("sliding_window");
    int maxWindowLayers = f.has("max_window_layers") ? f.positive("max_window_layers") : 28;
    f.get("max_window_layers");
    List<String> types = layerTypes(f, layers);
    for (int i = 0; i < layers; i++) {
      boolean sliding =
          types != null
              ? types.get(i).equals("sliding_attention")
              : window > 0 && i >= maxWindowLayers;
      if (sliding && window == 0) {
        throw f.bad(
            "layer_types",
            "marks layer "
                + i
                + " sliding_attention, but no sliding window is in use (use_sliding_window,"
                + " sliding_window)");
      }
      result.add(sliding ? window : 0);
    }
    return List.copyOf(result);
  }

  private static void requireAllFull(ConfigFields f, int layers) {
    List<String> types = layerTypes(f, layers);
    if (types != null && types.stream().anyMatch(t -> !t.equals("full_attention"))) {
      throw f.bad("layer_types", "may only list full_attention for this model_type");
    }
  }

  /** The config's {@code layer_types} (transformers 4.56+ and 5), null when absent. */
  private static List<String> layerTypes(ConfigFields f, int layers) {
    JsonNode t = f.get("layer_types");
    if (t.isMissingNode() || t.isNull()) {
      return null;
    }
    if (!t.isArray() || t.size() != layers) {
      throw f.bad("layer_types", "must list one entry per layer (" + layers + ")");
    }
    List<String> types = new ArrayList<>();
    for (JsonNode e : t) {
      if (!Set.of("full_attention", "sliding_attention").contains(e.asText())) {
        throw f.bad(
            "layer_types",
            "entry '"
                + e.asText()
                + "' is not supported; supported: full_attention, sliding_attention");
      }
      types.add(e.asText());
    }
    return types;
  }

  private static int firstInt(JsonNode n) {
    if (n.isArray()) {
      return n.size() == 0 ? -1 : n.get(0).asInt();
    }
    return n.isNumber() ? n.asInt() : -1;
  }

  /** Parameter count of the base model. */
  public long parameterCount() {
    long h = hidden;
    long perLayer;
    long emb = (long) vocabSize * h;
    if (family.equals("gpt2")) {
      perLayer =
          4 * h
              + (h * 3 * h + 3 * h)
              + (h * h + h)
              + (h * intermediate + intermediate)
              + (intermediate * h + h);
      return emb + (long) maxPositions * h + layers * perLayer + 2 * h;
    }
    long q = (long) heads * headDim;
    long kv = (long) kvHeads * headDim;
    perLayer = 2 * h + h * q + 2 * h * kv + q * h + 3 * h * intermediate;
    perLayer +=
        (qkvBias ? q + 2 * kv : 0) + (oBias ? h : 0) + (mlpBias ? 2L * intermediate + h : 0);
    perLayer += qkNorm ? 2L * headDim : 0; // fused projections hold the same weights
    return emb * (tiedEmbeddings ? 1 : 2) + layers * perLayer + h;
  }
}
