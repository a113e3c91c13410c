package io.loraops.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.trainer.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A preset built around a real tokenizer folder takes its vocabulary and special token ids. */
class TinyModelsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  @Test
  void aRealTokenizerSetsTheVocabularySpecialIdsAndTemplate() throws Exception {
    // A tokenizer folder as Qwen's: an end-of-turn EOS added past the base vocabulary, no BOS.
    Path tokenizer = tmp.resolve("tokenizer");
    Files.createDirectories(tokenizer);
    Path words = Fixtures.model("tiny-llama");
    ObjectNode t = (ObjectNode) JSON.readTree(words.resolve("tokenizer.json").toFile());
    int vocab = t.path("model").path("vocab").size();
    ObjectNode end = t.withArray("added_tokens").addObject();
    end.put("id", vocab + 5).put("content", "<|im_end|>").put("special", true);
    JSON.writeValue(tokenizer.resolve("tokenizer.json").toFile(), t);
    ObjectNode config = JSON.createObjectNode();
    config.put("eos_token", "<|im_end|>").put("pad_token", "<pad>").putNull("bos_token");
    config.put("chat_template", "{% for m in messages %}{{ m['content'] }}<|im_end|>{% endfor %}");
    JSON.writeValue(tokenizer.resolve("tokenizer_config.json").toFile(), config);

    Path dir = tmp.resolve("model");
    try (NDManager m = NDManager.newBaseManager()) {
      TinyModels.write("tiny-qwen3-h32", dir, 1, tokenizer, m);
      JsonNode c = JSON.readTree(dir.resolve("config.json").toFile());
      assertThat(c.path("model_type").asText()).isEqualTo("qwen3");
      assertThat(c.path("vocab_size").asInt()).isEqualTo(vocab + 6);
      assertThat(c.path("eos_token_id").asInt()).isEqualTo(vocab + 5);
      assertThat(c.path("pad_token_id").asInt()).isEqualTo(TinyModels.PAD);
      assertThat(c.has("bos_token_id")).as("no BOS, as the tokenizer has none").isFalse();
      assertThat(dir.resolve("tokenizer_config.json"))
          .hasSameTextualContentAs(tokenizer.resolve("tokenizer_config.json"));
      CausalLM model = ModelLoader.load(dir, m);
      assertThat(model.config().headDim()).isEqualTo(32);
      assertThat(model.config().qkNorm()).isTrue();
      assertThat(model.config().vocabSize()).isEqualTo(vocab + 6);
    }
  }
}
