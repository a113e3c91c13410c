package io.loraops.trainer.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.contract.ExitCodes;
import io.loraops.trainer.TrainerException;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads JSONL training data in one of three formats and tokenizes it:
 *
 * <ul>
 *   <li>{@code text}: {@code {"text": "..."}}; loss on every token.
 *   <li>{@code chat}: OpenAI's {@code {"messages": [{"role": "system"|"user"|"assistant",
 *       "content"}]}} rendered by the model's chat template ({@link ChatFormat}); loss only on what
 *       each assistant message makes the model generate, its end-of-turn token included.
 *   <li>{@code instruction}: {@code {"instruction", "input" (optional), "output"}}, the same path
 *       as a chat of one user message (instruction, a blank line, input) and one assistant message
 *       (output).
 * </ul>
 *
 * Text sequences end with EOS; chats end as their template ends them. All are cut at {@code
 * sequenceLength} tokens. A malformed line stops the run with its line number (exit code 3); blank
 * lines are the only lines skipped.
 */
public final class JsonlDataset {
  public static final List<String> FORMATS = List.of("text", "instruction", "chat");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Examples plus what was done to them, for metrics.json. */
  public record Loaded(List<Example> examples, int truncated, int withoutLossTokens) {}

  private JsonlDataset() {}

  public static Loaded load(Path file, String format, TextTokenizer tok, int sequenceLength) {
    List<Example> out = new ArrayList<>();
    int truncated = 0;
    int noLoss = 0;
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int lineNo = 0;
      while ((line = r.readLine()) != null) {
        lineNo++;
        if (line.isBlank()) {
          continue;
        }
        JsonNode n;
        try {
          n = JSON.readTree(line);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
          throw bad(file, lineNo, "not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (n == null || !n.isObject()) {
          throw bad(file, lineNo, "expected a JSON object");
        }
        Builder b = new Builder(tok);
        switch (format) {
          case "text" -> b.add(text(n, "text", file, lineNo, true), true).eos(true);
          case "instruction" -> {
            String instruction = text(n, "instruction", file, lineNo, true);
            String input = text(n, "input", file, lineNo, false);
            String output = text(n, "output", file, lineNo, true);
            String user =
                input == null || input.isEmpty() ? instruction : instruction + "\n\n" + input;
            b.add(
                ChatFormat.forTraining(
                    tok,
                    List.of(
                        new ChatFormat.Message("user", user),
                        new ChatFormat.Message("assistant", output))));
          }
          case "chat" -> chat(n, b, file, lineNo);
          default -> throw TrainerException.badConfig("dataset.format: unknown format " + format);
        }
        Example e = b.build(sequenceLength);
        if (b.size() > sequenceLength) {
          truncated++;
        }
        if (Arrays.stream(e.labels()).skip(1).allMatch(l -> l == Example.IGNORE)) {
          noLoss++;
        }
        out.add(e);
      }
    } catch (IOException e) {
      throw TrainerException.dataError("dataset " + file + ": cannot read: " + e.getMessage());
    }
    if (out.isEmpty()) {
      throw TrainerException.dataError("dataset " + file + ": no examples");
    }
    return new Loaded(out, truncated, noLoss);
  }

  private static void chat(JsonNode n, Builder b, Path file, int lineNo) {
    JsonNode messages = n.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw bad(file, lineNo, "field 'messages' must be a non-empty array");
    }
    boolean assistant = false;
    List<ChatFormat.Message> list = new ArrayList<>();
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      String role = m.path("role").asText("");
      if (!ChatFormat.ROLES.contains(role)) {
        throw bad(file, lineNo, "messages[" + i + "].role must be system, user or assistant");
      }
      if (!m.path("content").isTextual()) {
        throw bad(file, lineNo, "messages[" + i + "].content must be a string");
      }
      assistant |= role.equals("assistant");
      list.add(new ChatFormat.Message(role, m.get("content").asText()));
    }
    if (!assistant) {
      throw bad(file, lineNo, "no assistant message to learn from");
    }
    try {
      b.add(ChatFormat.forTraining(b.tok, list));
    } catch (TrainerException e) {
      throw e.exitCode() == ExitCodes.DATA_ERROR ? bad(file, lineNo, e.getMessage()) : e;
    }
  }

  private static String text(JsonNode n, String field, Path file, int lineNo, boolean required) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) {
      if (required) {
        throw bad(file, lineNo, "missing field '" + field + "'");
      }
      return null;
    }
    if (!v.isTextual()) {
      throw bad(file, lineNo, "field '" + field + "' must be a string");
    }
    return v.asText();
  }

  private static TrainerException bad(Path file, int lineNo, String what) {
    return TrainerException.dataError("dataset " + file + " line " + lineNo + ": " + what);
  }

  /** Concatenates tokenized segments, remembering which ones carry loss. */
  private static final class Builder {
    final TextTokenizer tok;
    private final List<Integer> ids = new ArrayList<>();
    private final List<Boolean> learn = new ArrayList<>();

    Builder(TextTokenizer tok) {
      this.tok = tok;
    }

    Builder add(String text, boolean withLoss) {
      for (int id : tok.encode(text)) {
        ids.add(id);
        learn.add(withLoss);
      }
      return this;
    }

    Builder add(ChatFormat.Encoded conversation) {
      for (int k = 0; k < conversation.ids().length; k++) {
        ids.add(conversation.ids()[k]);
        learn.add(conversation.learn()[k]);
      }
      return this;
    }

    Builder eos(boolean withLoss) {
      ids.add(tok.eosId());
      learn.add(withLoss);
      return this;
    }

    int size() {
      return ids.size();
    }

    Example build(int cap) {
      int n = Math.min(cap, ids.size());
      int[] i = new int[n];
      int[] l = new int[n];
      for (int k = 0; k < n; k++) {
        i[k] = ids.get(k);
        l[k] = learn.get(k) ? ids.get(k) : Example.IGNORE;
      }
      return new Example(i, l);
    }
  }
}
