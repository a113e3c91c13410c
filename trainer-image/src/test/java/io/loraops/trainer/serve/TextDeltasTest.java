package io.loraops.trainer.serve;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Streamed pieces add up to the final completion, and never show part of a stop string. */
class TextDeltasTest {
  // token id -> text, joined without separators (a byte-level tokenizer's view)
  static final Map<Integer, String> PIECES =
      Map.of(1, "Hel", 2, "lo", 3, " wor", 4, "ld", 5, "\n\n", 6, "\uFFFD", 7, "é");

  static final Function<int[], String> DECODE =
      ids -> {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
          // a half character decodes as U+FFFD until the token after it completes it
          if (ids[i] == 6 && i + 1 < ids.length && ids[i + 1] == 7) {
            continue;
          }
          text.append(PIECES.get(ids[i]));
        }
        return text.toString();
      };

  List<String> stream(List<String> stop, int... tokens) {
    TextDeltas deltas = new TextDeltas(DECODE, stop);
    List<String> sent = new ArrayList<>();
    for (int t : tokens) {
      sent.add(deltas.next(t));
    }
    return sent;
  }

  @Test
  void eachTokenSendsItsText() {
    assertThat(stream(List.of(), 1, 2, 3, 4)).containsExactly("Hel", "lo", " wor", "ld");
  }

  @Test
  void aHalfCharacterWaitsForItsOtherHalf() {
    assertThat(stream(List.of(), 1, 6, 7)).containsExactly("Hel", "", "é");
  }

  @Test
  void textThatMayStartAStopStringIsHeldBackAndTheRestComesAtTheEnd() {
    TextDeltas deltas = new TextDeltas(DECODE, List.of("\n\nUser"));
    assertThat(deltas.next(1)).isEmpty(); // "Hel" may still become the start of the stop string
    assertThat(deltas.next(2)).isEmpty();
    assertThat(deltas.next(3)).isEqualTo("Hell"); // 9 characters, 5 held back
    assertThat(deltas.next(5)).isEqualTo("o ");
    // The engine matched no stop string: the final text is everything; the rest follows.
    assertThat(deltas.rest("Hello wor\n\n")).isEqualTo("wor\n\n");
  }

  @Test
  void nothingIsSentTwiceWhenTheFinalTextWasCutAtAStop() {
    TextDeltas deltas = new TextDeltas(DECODE, List.of("ld"));
    deltas.next(1);
    deltas.next(2);
    assertThat(deltas.next(3)).isEqualTo("o wo"); // "Hello wor": the last character held back
    // "Hello world" has the stop string: nothing from it on is sent, and the engine cuts there.
    assertThat(deltas.next(4)).isEqualTo("r");
    assertThat(deltas.rest("Hello wor")).isEmpty();
  }
}
