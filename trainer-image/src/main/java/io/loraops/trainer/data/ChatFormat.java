package io.loraops.trainer.data;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Conversations as token ids, through the model's chat template ({@link ChatTemplate}), for the
 * trainer and the server alike, so that an adapter is served with the layout it was trained on.
 *
 * <p>The whole conversation is rendered once and tokenized once (as transformers' {@code
 * apply_chat_template(..., tokenize=True)}: no special tokens added beyond what the template
 * writes). Loss is taken on what the model generates for each assistant message: from the end of
 * the conversation before it rendered with the generation prompt, up to and including the first
 * end-of-turn token (the template's {@code eos_token}, or any id the model stops at: Llama 3 base
 * models name {@code <|end_of_text|>} as EOS while their template closes turns with {@code
 * <|eot_id|>}, which generation_config.json lists). Templates mark no {@code {% generation %}}
 * blocks in the models we target, and rendering prefixes is how the reference derives the mask
 * then; the end-of-turn rule, not the next prefix, closes the span because some templates (Qwen3)
 * render a final assistant message differently from an earlier one.
 */
public final class ChatFormat {
  public static final List<String> ROLES = List.of("system", "user", "assistant");

  /** One chat message. */
  public record Message(String role, String content) {}

  /** Token ids of a conversation and, per position, whether loss is taken there. */
  public record Encoded(int[] ids, boolean[] learn) {}

  private ChatFormat() {}

  /**
   * Token ids of {@code messages} followed by the generation prompt the reply continues, with
   * template variables {@code kwargs} (see {@link ChatTemplate#render(List, boolean, Map)}).
   */
  public static int[] generationPrompt(
      TextTokenizer tok, List<Message> messages, Map<String, Object> kwargs) {
    return tok.encode(tok.chatTemplate().render(messages, true, kwargs));
  }

  /** Token ids of the whole conversation, loss on the assistant messages (see the class doc). */
  public static Encoded forTraining(TextTokenizer tok, List<Message> messages) {
    ChatTemplate t = tok.chatTemplate();
    int[] ids = tok.encode(t.render(messages, false));
    boolean[] learn = new boolean[ids.length];
    int endOfTurn = endOfTurnId(tok);
    Set<Integer> stops = tok.stopIds();
    for (int i = 0; i < messages.size(); i++) {
      if (!messages.get(i).role().equals("assistant")) {
        continue;
      }
      int[] prompt = tok.encode(t.render(messages.subList(0, i), true));
      int start = commonPrefix(prompt, ids);
      int end = start;
      while (end < ids.length && ids[end] != endOfTurn && !stops.contains(ids[end])) {
        end++;
      }
      Arrays.fill(learn, start, Math.min(ids.length, end + 1), true);
    }
    return new Encoded(ids, learn);
  }

  /** The template's eos_token when it is one token, else the tokenizer's EOS. */
  static int endOfTurnId(TextTokenizer tok) {
    String eos = tok.chatTemplate().specialToken("eos_token");
    int[] ids = eos.isEmpty() ? new int[0] : tok.encode(eos);
    return ids.length == 1 ? ids[0] : tok.eosId();
  }

  private static int commonPrefix(int[] a, int[] b) {
    int n = 0;
    while (n < a.length && n < b.length && a[n] == b[n]) {
      n++;
    }
    return n;
  }
}
