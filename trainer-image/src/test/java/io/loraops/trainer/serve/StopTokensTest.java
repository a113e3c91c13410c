package io.loraops.trainer.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.loraops.trainer.Fixtures;
import io.loraops.trainer.TrainerException;
import io.loraops.trainer.data.StopTokens;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every eos_token_id a model lists ends a completion, as in transformers and vLLM. */
class StopTokensTest {
  @TempDir Path tmp;

  @Test
  void theTokenizersEosAndEveryListedIdStop() throws Exception {
    Files.writeString(tmp.resolve("config.json"), "{\"eos_token_id\": 128001}");
    Files.writeString(
        tmp.resolve("generation_config.json"), "{\"eos_token_id\": [128001, 128008, 128009]}");
    assertThat(StopTokens.read(tmp, 128001)).containsExactlyInAnyOrder(128001, 128008, 128009);
    Files.writeString(tmp.resolve("generation_config.json"), "{\"eos_token_id\": \"x\"}");
    assertThatThrownBy(() -> StopTokens.read(tmp, 2))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining("generation_config.json: eos_token_id must be a token id");
  }

  @Test
  void aCompletionEndsAtAStopTokenFromGenerationConfig() throws Exception {
    Path model = tmp.resolve("tiny-llama");
    Path from = Fixtures.model("tiny-llama");
    Files.createDirectories(model);
    try (var files = Files.list(from)) {
      for (Path f : files.toList()) {
        Files.copy(f, model.resolve(f.getFileName()));
      }
    }
    int[] prompt;
    int first;
    try (InferenceEngine engine = load(model)) {
      prompt = engine.encode("one two three four");
      InferenceEngine.Completion c =
          engine.complete("tiny-llama", prompt, 4, 0, null, List.of(), 0, null);
      assertThat(c.finishReason()).isEqualTo("length");
      first = c.steps().get(0).token();
    }
    // The greedy first token becomes a stop token: the completion ends at once, without it.
    Files.writeString(
        model.resolve("generation_config.json"), "{\"eos_token_id\": [2, " + first + "]}");
    try (InferenceEngine engine = load(model)) {
      InferenceEngine.Completion c =
          engine.complete("tiny-llama", prompt, 4, 0, null, List.of(), 0, null);
      assertThat(c.finishReason()).isEqualTo("stop");
      assertThat(c.completionTokens()).isEqualTo(1);
      assertThat(c.text()).isEmpty();
    }
  }

  private static InferenceEngine load(Path model) {
    return InferenceEngine.load(model.toString(), "tiny-llama", 4);
  }
}
