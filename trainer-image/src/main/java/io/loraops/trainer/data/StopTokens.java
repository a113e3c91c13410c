package io.loraops.trainer.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/**
 * The token ids that end a completion, as transformers' {@code generate} and vLLM take them: the
 * tokenizer's EOS, every {@code eos_token_id} of {@code config.json}, and every one of {@code
 * generation_config.json}. Llama 3 lists several there ({@code <|end_of_text|>}, {@code
 * <|eom_id|>}, {@code <|eot_id|>}); an instruct model ends its turn with {@code <|eot_id|>}, which
 * is not the tokenizer's EOS, so without the list a chat answer would run on to max_tokens, and a
 * trained assistant turn would not end there.
 */
public final class StopTokens {
  private static final ObjectMapper JSON = new ObjectMapper();

  private StopTokens() {}

  /** The stop ids of the model in {@code dir}, whose tokenizer's EOS is {@code eos}. */
  public static Set<Integer> read(Path dir, int eos) {
    Set<Integer> ids = new TreeSet<>();
    ids.add(eos);
    for (String file : new String[] {"config.json", "generation_config.json"}) {
      Path path = dir.resolve(file);
      if (!Files.isRegularFile(path)) {
        continue;
      }
      JsonNode value;
      try {
        value = JSON.readTree(path.toFile()).path("eos_token_id");
      } catch (IOException e) {
        throw TrainerException.badConfig(path + " is not valid JSON: " + e.getMessage());
      }
      for (JsonNode id : value.isArray() ? value : JSON.createArrayNode().add(value)) {
        if (id.isNull() || id.isMissingNode()) {
          continue;
        }
        if (!id.canConvertToInt() || id.asInt() < 0) {
          throw TrainerException.badConfig(
              path + ": eos_token_id must be a token id or a list of them, got " + value);
        }
        ids.add(id.asInt());
      }
    }
    return Set.copyOf(ids);
  }
}
