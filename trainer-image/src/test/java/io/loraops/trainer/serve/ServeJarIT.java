package io.loraops.trainer.serve;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.Fixtures;
import io.loraops.trainer.lora.RandomAdapter;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code lora-trainer serve} from the packaged jar, as a serving pod runs it: flags, {@code
 * --lora-modules}, the port opened only once loaded, and exit code 2 for a bad model.
 */
class ServeJarIT {
  private static final Pattern LISTENING = Pattern.compile("listening on http://[^:]+:(\\d+)");

  @TempDir Path tmp;

  private static ProcessBuilder jar(String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-jar");
    cmd.add(System.getProperty("trainer.jar", "target/lora-trainer.jar"));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectErrorStream(true);
  }

  @Test
  void jarServesAdaptersGivenOnTheCommandLine() throws Exception {
    Path model = Fixtures.model("tiny-llama");
    RandomAdapter.write(
        model, tmp.resolve("a1"), 4, List.of("q_proj"), 1, "", RandomAdapter.Weights.RANDOM);
    ProcessBuilder pb =
        jar(
            "serve",
            "--model",
            model.toString(),
            "--served-model-name=base",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--lora-modules",
            "a1=" + tmp.resolve("a1"));
    Process p = pb.start();
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                  lines.add(line);
                }
              } catch (Exception e) {
                // the process ended
              }
            });
    reader.setDaemon(true);
    reader.start();
    try {
      List<String> seen = new ArrayList<>();
      int port = -1;
      while (port < 0) {
        String line = lines.poll(2, TimeUnit.MINUTES);
        assertThat(line).as("serve output so far: %s", seen).isNotNull();
        seen.add(line);
        Matcher m = LISTENING.matcher(line);
        if (m.find()) {
          port = Integer.parseInt(m.group(1));
        }
      }
      assertThat(seen)
          .anyMatch(
              l -> l.startsWith("serve: loaded adapter 'a1' from " + tmp.resolve("a1") + " (r="));
      HttpClient http = HttpClient.newHttpClient();
      String base = "http://127.0.0.1:" + port;
      HttpResponse<String> health =
          http.send(
              HttpRequest.newBuilder(URI.create(base + "/health")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(health.statusCode()).isEqualTo(200);
      JsonNode models =
          new ObjectMapper()
              .readTree(
                  http.send(
                          HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(),
                          HttpResponse.BodyHandlers.ofString())
                      .body());
      assertThat(models.at("/data/0/id").asText()).isEqualTo("base");
      assertThat(models.at("/data/1/id").asText()).isEqualTo("a1");
      assertThat(models.at("/data/1/root").asText()).isEqualTo(tmp.resolve("a1").toString());
      HttpResponse<String> c =
          http.send(
              HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"model\": \"a1\", \"prompt\": [\"one two\"], \"max_tokens\": 3}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(c.statusCode()).as(c.body()).isEqualTo(200);
    } finally {
      p.destroy();
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }
  }

  @Test
  void jarExitsTwoWhenTheModelCannotBeLoaded() throws Exception {
    Path empty = Files.createDirectories(tmp.resolve("no-model"));
    Process p = jar("serve", "--model", empty.toString(), "--port", "0").start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(p.exitValue()).as(out).isEqualTo(2);
    assertThat(out).contains("config.json");
  }
}
