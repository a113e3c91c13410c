package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.loraops.contract.ExitCodes;
import io.loraops.trainer.data.Batches;
import io.loraops.trainer.data.Example;
import io.loraops.trainer.data.JsonlDataset;
import io.loraops.trainer.data.TextTokenizer;
import io.loraops.trainer.model.ModelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** JSONL formats, loss masks, batching and malformed-line reporting. */
class DatasetTest {
  static TextTokenizer tok;
  @TempDir Path tmp;

  @BeforeAll
  static void load() throws Exception {
    Path model = Fixtures.model("tiny-llama");
    tok = TextTokenizer.load(model, ModelConfig.read(model));
  }

  @AfterAll
  static void close() {
    tok.close();
  }

  private Path file(String... lines) throws Exception {
    Path f = tmp.resolve("d.jsonl");
    Files.write(f, List.of(lines));
    return f;
  }

  @Test
  void textHasLossEverywhereAndEndsWithEos() throws Exception {
    Example e =
        JsonlDataset.load(file("{\"text\": \"one two three\"}"), "text", tok, 64).examples().get(0);
    assertThat(e.ids()).hasSize(4);
    assertThat(e.ids()[3]).isEqualTo(tok.eosId());
    assertThat(e.labels()).containsExactly(e.ids());
  }

  @Test
  void tokenizerDoesNotTruncateAt512() throws Exception {
    String text = String.join(" ", java.util.Collections.nCopies(700, "one"));
    Example e =
        JsonlDataset.load(file("{\"text\": \"" + text + "\"}"), "text", tok, 1000)
            .examples()
            .get(0);
    assertThat(e.ids()).hasSize(701);
  }

  @Test
  void instructionTakesLossOnlyOnTheResponse() throws Exception {
    Example e =
        JsonlDataset.load(
                file("{\"instruction\": \"count\", \"input\": \"one\", \"output\": \"two three\"}"),
                "instruction",
                tok,
                64)
            .examples()
            .get(0);
    long learned = Arrays.stream(e.labels()).filter(l -> l != Example.IGNORE).count();
    assertThat(learned).isEqualTo(3); // "two", "three", EOS
    assertThat(e.labels()[e.labels().length - 1]).isEqualTo(tok.eosId());
  }

  @Test
  void chatTakesLossOnlyOnAssistantTurns() throws Exception {
    Example e =
        JsonlDataset.load(
                file(
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"one two\"}, {\"role\": \"assistant\", \"content\": \"three\"}]}"),
                "chat",
                tok,
                64)
            .examples()
            .get(0);
    assertThat(Arrays.stream(e.labels()).filter(l -> l != Example.IGNORE).count()).isEqualTo(2);
  }

  @Test
  void instructionIsAChatOfOneUserAndOneAssistantMessage() throws Exception {
    Example instruction =
        JsonlDataset.load(
                file("{\"instruction\": \"count\", \"input\": \"one\", \"output\": \"two\"}"),
                "instruction",
                tok,
                64)
            .examples()
            .get(0);
    Example chat =
        JsonlDataset.load(
                file(
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"count\\n\\none\"},"
                        + " {\"role\": \"assistant\", \"content\": \"two\"}]}"),
                "chat",
                tok,
                64)
            .examples()
            .get(0);
    assertThat(instruction.ids()).containsExactly(chat.ids());
    assertThat(instruction.labels()).containsExactly(chat.labels());
  }

  @Test
  void chatWithoutAModelTemplateUsesTheHouseTemplate() throws Exception {
    Example e =
        JsonlDataset.load(
                file(
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"one\"},"
                        + " {\"role\": \"assistant\", \"content\": \"two\"}]}"),
                "chat",
                tok,
                64)
            .examples()
            .get(0);
    assertThat(e.ids())
        .containsExactly(tok.encode("<|user|>\none<|assistant|>\ntwo" + tok.token(tok.eosId())));
    assertThat(e.ids()[e.ids().length - 1]).isEqualTo(tok.eosId());
  }

  @Test
  void sequencesAreCutAtTheCapAndCounted() throws Exception {
    JsonlDataset.Loaded l =
        JsonlDataset.load(
            file("{\"text\": \"one two three four five\"}", "", "{\"text\": \"one\"}"),
            "text",
            tok,
            3);
    assertThat(l.examples()).hasSize(2);
    assertThat(l.examples().get(0).ids()).hasSize(3);
    assertThat(l.truncated()).isEqualTo(1);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "text|{\"text\": \"one\"}|{\"text\": 5}|line 2: field 'text' must be a string",
        "text|{\"text\": \"one\"}|{broken|line 2: not valid JSON",
        "text|{\"text\": \"one\"}|[1, 2]|line 2: expected a JSON object",
        "instruction|{\"instruction\": \"a\", \"output\": \"b\"}|{\"instruction\": \"a\"}|line 2: missing field 'output'",
        "chat|{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}|{\"messages\": [{\"role\": \"bot\", \"content\": \"a\"}]}|line 2: messages[0].role",
        "chat|{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}|{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}|line 2: no assistant message"
      })
  void malformedLineIsADataErrorWithItsLineNumber(
      String format, String good, String bad, String message) throws Exception {
    Path f = file(good, bad);
    assertThatThrownBy(() -> JsonlDataset.load(f, format, tok, 64))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining(message)
        .satisfies(
            e -> assertThat(((TrainerException) e).exitCode()).isEqualTo(ExitCodes.DATA_ERROR));
  }

  @Test
  void batchesShiftTargetsPadRightAndRepeatDeterministically() {
    List<Example> ex =
        List.of(
            new Example(new int[] {5, 6, 7}, new int[] {5, 6, 7}),
            new Example(new int[] {8}, new int[] {8}));
    Batches.Batch b = Batches.pad(ex, 1);
    assertThat(b.ids()).containsExactly(5, 6, 7, 8, 1, 1);
    assertThat(b.targets()).containsExactly(6, 7, -100, -100, -100, -100);
    assertThat(b.tokens()).isEqualTo(4);
    assertThat(b.lossTokens()).isEqualTo(2);
    Batches a = new Batches(ex, 1, 3, 1, true);
    Batches c = new Batches(ex, 1, 3, 1, true);
    for (int k = 0; k < 6; k++) {
      assertThat(a.get(k).ids()).containsExactly(c.get(k).ids());
    }
  }
}
