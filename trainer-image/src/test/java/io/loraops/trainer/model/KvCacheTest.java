package io.loraops.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.trainer.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Generation with the key/value cache (the prompt once, then one position per step) gives the same
 * next-token logits as running the whole sequence every step, for GPT-2, LLaMA with grouped-query
 * attention, and a sliding window shorter than the sequence.
 */
class KvCacheTest {
  static final long[] SEQUENCE = {5, 17, 3, 42, 9, 11, 30, 7, 2, 64};
  static final int PROMPT = 4;

  @TempDir static Path tmp;

  static Path model(String preset) throws Exception {
    if (!preset.equals("mistral-window-3")) {
      return Fixtures.model(preset);
    }
    // tiny-llama as Mistral with a 3-token window: positions further back are hidden
    Path dir = tmp.resolve(preset);
    if (!Files.exists(dir)) {
      Path from = Fixtures.model("tiny-llama");
      Files.createDirectories(dir);
      for (String f :
          new String[] {"model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
        Files.copy(from.resolve(f), dir.resolve(f));
      }
      ObjectMapper json = new ObjectMapper();
      ObjectNode config = (ObjectNode) json.readTree(from.resolve("config.json").toFile());
      config.put("model_type", "mistral");
      config.putArray("architectures").add("MistralForCausalLM");
      config.put("sliding_window", 3);
      config.remove("attention_bias");
      config.remove("mlp_bias");
      Files.writeString(dir.resolve("config.json"), json.writeValueAsString(config));
    }
    return dir;
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gpt2", "tiny-llama", "tiny-llama-h32", "mistral-window-3"})
  void cachedStepsGiveTheLogitsOfFullRuns(String preset) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      CausalLM lm = ModelLoader.load(model(preset), m);
      try (KvCache cache = new KvCache(m, lm.config().layers())) {
        for (int n = PROMPT; n <= SEQUENCE.length; n++) {
          try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            long[] all = Arrays.copyOf(SEQUENCE, n);
            float[] full = lm.lastLogits(m.create(all, new Shape(1, n))).toFloatArray();
            long[] added = Arrays.copyOfRange(SEQUENCE, cache.length(), n);
            float[] cached =
                lm.lastLogits(m.create(added, new Shape(1, added.length)), cache).toFloatArray();
            assertThat(cache.length()).isEqualTo(n);
            float worst = 0;
            for (int i = 0; i < full.length; i++) {
              worst = Math.max(worst, Math.abs(full[i] - cached[i]));
            }
            assertThat(worst).as(preset + ", " + n + " positions").isLessThan(1e-5f);
          }
        }
      }
    }
  }
}
