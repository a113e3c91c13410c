package io.loraops.trainer.data;

import java.util.ArrayList;
import java.util.List;

/**
 * The chat rendering the trainer learns from and the server prompts with, so that a chat adapter
 * sees at inference exactly the token layout it was trained on:
 *
 * <pre>
 * &lt;|system|&gt;\n{content}&lt;|user|&gt;\n{content}&lt;|assistant|&gt;\n{content}&lt;eos&gt;...
 * </pre>
 *
 * Each segment (header, content) is tokenized on its own, and EOS closes every assistant message. A
 * generation prompt ends with the assistant header. Model-specific Jinja templates are not applied.
 */
public final class ChatFormat {
  public static final List<String> ROLES = List.of("system", "user", "assistant");

  /** One chat message. */
  public record Message(String role, String content) {}

  private ChatFormat() {}

  /** The text that opens a message of {@code role}. */
  public static String header(String role) {
    return "<|" + role + "|>\n";
  }

  /** Token ids of {@code messages} followed by the assistant header the reply continues. */
  public static int[] generationPrompt(TextTokenizer tok, List<Message> messages) {
    List<Integer> ids = new ArrayList<>();
    for (Message m : messages) {
      add(ids, tok.encode(header(m.role())));
      add(ids, tok.encode(m.content()));
      if (m.role().equals("assistant")) {
        ids.add(tok.eosId());
      }
    }
    add(ids, tok.encode(header("assistant")));
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }

  private static void add(List<Integer> ids, int[] more) {
    for (int id : more) {
      ids.add(id);
    }
  }
}
