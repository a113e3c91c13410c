package io.loraops.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where a trained assistant turn ends. */
class ChatFormatTest {
  @TempDir Path dir;

  /**
   * As a Llama 3 base model: its tokenizer's EOS is not what its template closes turns with, and
   * generation_config.json lists the turn's end among the stop ids. The loss must stop there, not
   * run on into the next user turn.
   */
  @Test
  void anAssistantTurnEndsAtAnyStopIdOfTheModel() throws Exception {
    Path from = Fixtures.model("tiny-llama");
    try (var files = Files.list(from)) {
      for (Path f : files.toList()) {
        Files.copy(f, dir.resolve(f.getFileName()));
      }
    }
    Files.writeString(
        dir.resolve("tokenizer_config.json"),
        new ObjectMapper()
            .writeValueAsString(
                Map.of(
                    "eos_token",
                    "<eos>",
                    "chat_template",
                    "{% for m in messages %}{{ m.role }} : {{ m.content }} ###{% endfor %}"
                        + "{% if add_generation_prompt %}assistant :{% endif %}")));
    List<ChatFormat.Message> chat =
        List.of(
            new ChatFormat.Message("user", "one"),
            new ChatFormat.Message("assistant", "two"),
            new ChatFormat.Message("user", "three"),
            new ChatFormat.Message("assistant", "four"));
    int endOfTurn;
    try (TextTokenizer tok = TextTokenizer.load(dir, -1, -1)) {
      endOfTurn = tok.encode("###")[0];
    }
    Files.writeString(
        dir.resolve("generation_config.json"), "{\"eos_token_id\": [2, " + endOfTurn + "]}");
    try (TextTokenizer tok = TextTokenizer.load(dir, -1, -1)) {
      ChatFormat.Encoded e = ChatFormat.forTraining(tok, chat);
      // user : one ### assistant : two ### user : three ### assistant : four ###
      assertThat(e.ids()).hasSize(16);
      boolean[] expected = new boolean[16];
      for (int i : new int[] {6, 7, 14, 15}) {
        expected[i] = true;
      }
      assertThat(e.learn()).containsExactly(expected);
    }
  }
}
