package io.loraops.trainer.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * A server-sent event stream as OpenAI's and vLLM's {@code stream: true} answers are: {@code data:
 * <json>} events and a final {@code data: [DONE]}. The status line goes out with the first event,
 * so an error found before any token is still an ordinary error response.
 */
final class SseStream {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpExchange exchange;
  private OutputStream out;

  SseStream(HttpExchange exchange) {
    this.exchange = exchange;
  }

  boolean started() {
    return out != null;
  }

  /** Sends one event; a client that went away ends the stream (and the generation feeding it). */
  void send(ObjectNode event) {
    try {
      write("data: " + JSON.writeValueAsString(event) + "\n\n");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  void done() throws IOException {
    write("data: [DONE]\n\n");
  }

  private void write(String text) throws IOException {
    if (out == null) {
      exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
      exchange.getResponseHeaders().set("Cache-Control", "no-cache");
      exchange.sendResponseHeaders(200, 0); // chunked
      out = exchange.getResponseBody();
    }
    out.write(text.getBytes(StandardCharsets.UTF_8));
    out.flush();
  }
}
