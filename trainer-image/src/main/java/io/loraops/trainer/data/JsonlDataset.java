package io.loraops.trainer.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
 *   <li>{@code instruction}: {@code {"instruction", "input" (optional), "output"}} rendered with
 *       the Alpaca template; loss only on the response (output + EOS).
 *   <li>{@code chat}: {@code {"messages": [{"role": "system"|"user"|"assistant", "content"}]}}
 *       rendered by {@link ChatFormat}; loss only on assistant contents and the EOS that closes
 *       each of them. Model-specific Jinja chat templates are not applied.
 * </ul>
 *
 * Every sequence ends with EOS and is cut at {@code sequenceLength} tokens. A malformed line stops
 * the run with its line number (exit code 3); blank lines are the only lines skipped.
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
            StringBuilder prompt =
                new StringBuilder("### Instruction:\n").append(instruction).append("\n\n");
            if (input != null && !input.isEmpty()) {
              prompt.append("### Input:\n").append(input).append("\n\n");
            }
            prompt.append("### Response:\n");
            b.add(prompt.toString(), false).add(output, true).eos(true);
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
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      String role = m.path("role").asText("");
      if (!ChatFormat.ROLES.contains(role)) {
        throw bad(file, lineNo, "messages[" + i + "].role must be system, user or assistant");
      }
      if (!m.path("content").isTextual()) {
        throw bad(file, lineNo, "messages[" + i + "].content must be a string");
      }
      boolean learn = role.equals("assistant");
      assistant |= learn;
      b.add(ChatFormat.header(role), false).add(m.get("content").asText(), learn);
      if (learn) {
        b.eos(true);
      }
    }
    if (!assistant) {
      throw bad(file, lineNo, "no assistant message to learn from");
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
    private final TextTokenizer tok;
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
