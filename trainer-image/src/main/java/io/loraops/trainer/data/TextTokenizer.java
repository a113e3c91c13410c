package io.loraops.trainer.data;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.TrainerException;
import io.loraops.trainer.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The model's {@code tokenizer.json} through DJL's binding of Hugging Face tokenizers. Special
 * tokens are not added (the trainer adds EOS itself) and nothing is truncated here: the binding
 * would otherwise cut at 512 tokens with only a warning; the dataset applies the sequence cap.
 */
public final class TextTokenizer implements AutoCloseable {
  private static final List<String> EOS_NAMES =
      List.of("</s>", "<|endoftext|>", "<eos>", "<|eot_id|>");

  private final HuggingFaceTokenizer tokenizer;
  private final int eosId;
  private final int padId;
  private final Set<Integer> stopIds;
  private ChatTemplate chatTemplate;

  private TextTokenizer(
      HuggingFaceTokenizer tokenizer, int eosId, int padId, Set<Integer> stopIds) {
    this.tokenizer = tokenizer;
    this.eosId = eosId;
    this.padId = padId;
    this.stopIds = stopIds;
  }

  /**
   * Loads {@code <modelDir>/tokenizer.json}; EOS comes from config.json, else
   * tokenizer_config.json's eos_token, else a known name.
   */
  public static TextTokenizer load(Path modelDir, ModelConfig config) {
    return load(modelDir, config.eosTokenId(), config.padTokenId());
  }

  /**
   * Loads {@code <modelDir>/tokenizer.json} and the model's chat template (rendered once here, so a
   * template the engine cannot render fails at start); {@code eosTokenId} and {@code padTokenId} as
   * config.json gives them (-1: none).
   */
  public static TextTokenizer load(Path modelDir, int eosTokenId, int padTokenId) {
    Path file = modelDir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw TrainerException.badConfig("baseModel.path " + modelDir + " has no tokenizer.json");
    }
    int eos = eosTokenId;
    List<String> names = new ArrayList<>();
    String configured = ChatTemplate.configuredToken(modelDir, "eos_token");
    if (!configured.isEmpty()) {
      names.add(configured);
    }
    names.addAll(EOS_NAMES);
    if (eos < 0) {
      eos = findSpecial(file, names);
    }
    if (eos < 0) {
      throw TrainerException.badConfig(
          file
              + ": no end-of-sequence token (config.json eos_token_id, tokenizer_config.json"
              + " eos_token, or one of "
              + EOS_NAMES
              + ")");
    }
    Set<Integer> stops = StopTokens.read(modelDir, eos);
    HuggingFaceTokenizer t;
    try {
      t =
          HuggingFaceTokenizer.builder()
              .optTokenizerPath(file)
              .optAddSpecialTokens(false)
              .optTruncation(false)
              .optPadding(false)
              .build();
    } catch (IOException | RuntimeException e) {
      throw TrainerException.badConfig(file + ": cannot load tokenizer: " + e.getMessage());
    }
    TextTokenizer tok = new TextTokenizer(t, eos, padTokenId >= 0 ? padTokenId : eos, stops);
    try {
      tok.chatTemplate = ChatTemplate.load(modelDir, tok.token(eos));
    } catch (RuntimeException e) {
      tok.close();
      throw e;
    }
    return tok;
  }

  private static int findSpecial(Path file, List<String> names) {
    try {
      JsonNode root = new ObjectMapper().readTree(file.toFile());
      for (String name : names) {
        for (JsonNode t : root.path("added_tokens")) {
          if (t.path("content").asText().equals(name)) {
            return t.path("id").asInt();
          }
        }
      }
    } catch (IOException e) {
      throw TrainerException.badConfig(file + ": " + e.getMessage());
    }
    return -1;
  }

  public int[] encode(String text) {
    long[] ids = tokenizer.encode(text, false, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }

  /** Text of {@code ids}, special tokens (EOS, padding) left out. */
  public String decode(int[] ids) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      l[i] = ids[i];
    }
    return tokenizer.decode(l, true);
  }

  /** One token as text, special tokens included (how log-probability listings name a token). */
  public String token(int id) {
    return tokenizer.decode(new long[] {id}, false);
  }

  /** The model's chat template, or the house template when it has none. */
  public ChatTemplate chatTemplate() {
    return chatTemplate;
  }

  public int eosId() {
    return eosId;
  }

  /**
   * The ids that end a turn or a completion: EOS and every {@code eos_token_id} of {@code
   * config.json} and {@code generation_config.json} (see {@link StopTokens}).
   */
  public Set<Integer> stopIds() {
    return stopIds;
  }

  public int padId() {
    return padId;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
