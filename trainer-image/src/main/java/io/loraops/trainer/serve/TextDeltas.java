package io.loraops.trainer.serve;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * The text a streamed completion sends token by token. Each new token's text is the difference
 * between the decoded completion before and after it (a token's own text is not enough: byte-level
 * tokens may be half a character). Text that could still turn out to be the start of a stop string,
 * or is an unfinished character (U+FFFD), is held back until it cannot, so the streamed pieces
 * always add up to the final completion, stop strings left out.
 */
final class TextDeltas {
  private final Function<int[], String> decode;
  private final List<String> stop;
  private final int holdBack; // longest stop string minus one
  private int[] ids = new int[16];
  private int count;
  private int sent; // characters of the decoded text already sent

  TextDeltas(Function<int[], String> decode, List<String> stop) {
    this.decode = decode;
    this.stop = stop;
    this.holdBack = Math.max(0, stop.stream().mapToInt(String::length).max().orElse(0) - 1);
  }

  /** The text to send after {@code token}; empty when there is nothing safe to send yet. */
  String next(int token) {
    if (count == ids.length) {
      ids = Arrays.copyOf(ids, count * 2);
    }
    ids[count++] = token;
    String text = decode.apply(Arrays.copyOf(ids, count));
    int safe = text.length() - holdBack;
    for (String s : stop) {
      int at = s.isEmpty() ? -1 : text.indexOf(s);
      if (at >= 0) {
        safe = Math.min(safe, at); // the engine ends the completion before it
      }
    }
    while (safe > sent && text.charAt(safe - 1) == '\uFFFD') {
      safe--;
    }
    if (safe <= sent) {
      return "";
    }
    String delta = text.substring(sent, safe);
    sent = safe;
    return delta;
  }

  /** What is left to send of {@code finalText}, the completion as it ended. */
  String rest(String finalText) {
    return finalText.length() > sent ? finalText.substring(sent) : "";
  }
}
