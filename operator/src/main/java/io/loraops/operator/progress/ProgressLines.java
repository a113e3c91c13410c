package io.loraops.operator.progress;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ProgressEvent;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;

/**
 * Parses a chunk of a trainer's log into its progress lines. Pure.
 *
 * <p>Lines may carry the kubelet's timestamp prefix ({@code timestamps=true}: an RFC 3339 time with
 * nanoseconds and a space); lines that are not progress events (the trainer's log messages, a line
 * cut at the byte limit of a read) are skipped.
 */
public final class ProgressLines {

  /** One progress event and the time the kubelet stamped on its line (null without a stamp). */
  public record Line(Instant at, ProgressEvent event) {}

  private ProgressLines() {}

  public static List<Line> parse(String log) {
    List<Line> lines = new ArrayList<>();
    if (log == null || log.isEmpty()) {
      return lines;
    }
    for (String raw : log.split("\n")) {
      Instant at = null;
      String text = raw.strip();
      int brace = text.indexOf('{');
      if (brace > 0) {
        at = timestamp(text.substring(0, brace).strip());
        text = text.substring(brace);
      }
      if (!text.startsWith("{") || !text.endsWith("}") || !text.contains("\"event\"")) {
        continue;
      }
      try {
        ProgressEvent event = ContractJson.mapper().readValue(text, ProgressEvent.class);
        if (event.event() != null) {
          lines.add(new Line(at, event));
        }
      } catch (JsonProcessingException e) {
        // Not a progress line (or cut short): skipped like any other log line.
      }
    }
    return lines;
  }

  private static Instant timestamp(String prefix) {
    try {
      return Instant.parse(prefix);
    } catch (DateTimeParseException e) {
      return null;
    }
  }
}
