package io.loraops.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The architecture facts the trainer needs from a Hugging Face {@code config.json}, normalised over
 * the GPT-2 and LLaMA field names.
 *
 * @param family {@code gpt2} or {@code llama}
 * @param vocabSize rows of the embedding matrix
 * @param hidden model width (GPT-2 {@code n_embd}, LLaMA {@code hidden_size})
 * @param layers transformer blocks
 * @param heads query heads
 * @param kvHeads key/value heads (grouped-query attention when smaller than heads)
 * @param headDim width of one head
 * @param intermediate MLP width
 * @param maxPositions longest sequence the model supports
 * @param normEps LayerNorm / RMSNorm epsilon
 * @param ropeTheta RoPE base (LLaMA)
 * @param tiedEmbeddings whether the LM head reuses the token embedding
 * @param attentionBias whether q/k/v/o projections have biases (LLaMA {@code attention_bias})
 * @param mlpBias whether MLP projections have biases (LLaMA {@code mlp_bias})
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
    double ropeTheta,
    boolean tiedEmbeddings,
    boolean attentionBias,
    boolean mlpBias,
    int eosTokenId,
    int padTokenId) {

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
    String type = n.path("model_type").asText("");
    return switch (type) {
      case "gpt2" -> gpt2(n, file);
      case "llama" -> llama(n, file);
      default ->
          throw TrainerException.badConfig(
              file + ": model_type '" + type + "' is not supported; supported: gpt2, llama");
    };
  }

  private static ModelConfig gpt2(JsonNode n, Path file) {
    int hidden = req(n, "n_embd", file);
    int heads = req(n, "n_head", file);
    String act = n.path("activation_function").asText("gelu_new");
    if (!act.equals("gelu_new")) {
      throw TrainerException.badConfig(
          file + ": activation_function '" + act + "' is not supported; supported: gelu_new");
    }
    int inner = n.hasNonNull("n_inner") ? n.get("n_inner").asInt() : 4 * hidden;
    return new ModelConfig(
        "gpt2",
        req(n, "vocab_size", file),
        hidden,
        req(n, "n_layer", file),
        heads,
        heads,
        hidden / heads,
        inner,
        req(n, "n_positions", file),
        n.path("layer_norm_epsilon").asDouble(1e-5),
        0,
        n.path("tie_word_embeddings").asBoolean(true),
        true,
        true,
        n.path("eos_token_id").asInt(-1),
        n.path("pad_token_id").asInt(-1));
  }

  private static ModelConfig llama(JsonNode n, Path file) {
    int hidden = req(n, "hidden_size", file);
    int heads = req(n, "num_attention_heads", file);
    int kvHeads =
        n.hasNonNull("num_key_value_heads") ? n.get("num_key_value_heads").asInt() : heads;
    if (heads % kvHeads != 0) {
      throw TrainerException.badConfig(
          file + ": num_attention_heads must be a multiple of num_key_value_heads");
    }
    String act = n.path("hidden_act").asText("silu");
    if (!act.equals("silu")) {
      throw TrainerException.badConfig(
          file + ": hidden_act '" + act + "' is not supported; supported: silu");
    }
    if (n.hasNonNull("rope_scaling")) {
      // TODO(issue 3): Llama 3 style rope_scaling; refuse rather than silently compute wrong
      // logits.
      throw TrainerException.badConfig(file + ": rope_scaling is not supported yet");
    }
    int headDim = n.hasNonNull("head_dim") ? n.get("head_dim").asInt() : hidden / heads;
    return new ModelConfig(
        "llama",
        req(n, "vocab_size", file),
        hidden,
        req(n, "num_hidden_layers", file),
        heads,
        kvHeads,
        headDim,
        req(n, "intermediate_size", file),
        n.path("max_position_embeddings").asInt(2048),
        n.path("rms_norm_eps").asDouble(1e-6),
        n.path("rope_theta").asDouble(10000.0),
        n.path("tie_word_embeddings").asBoolean(false),
        n.path("attention_bias").asBoolean(false),
        n.path("mlp_bias").asBoolean(false),
        firstInt(n.path("eos_token_id")),
        firstInt(n.path("pad_token_id")));
  }

  private static int firstInt(JsonNode n) {
    if (n.isArray()) {
      return n.size() == 0 ? -1 : n.get(0).asInt();
    }
    return n.isNumber() ? n.asInt() : -1;
  }

  private static int req(JsonNode n, String field, Path file) {
    if (!n.hasNonNull(field) || !n.get(field).canConvertToInt() || n.get(field).asInt() <= 0) {
      throw TrainerException.badConfig(
          file + ": field '" + field + "' is missing or not a positive integer");
    }
    return n.get(field).asInt();
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
    return emb * (tiedEmbeddings ? 1 : 2) + layers * perLayer + h;
  }
}
