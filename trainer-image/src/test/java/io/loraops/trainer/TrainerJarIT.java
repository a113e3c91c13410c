package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.ProgressEvent;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged runnable jar, as a trial pod runs it: a separate JVM, stdout JSON lines, the
 * termination message file and the exit code (run by failsafe after {@code package}).
 */
class TrainerJarIT {
  @TempDir Path tmp;

  private record Run(int exitCode, List<String> stdout, String stderr) {}

  private Run run(Path config) throws Exception {
    Path jar = Path.of(System.getProperty("trainer.jar", "target/lora-trainer.jar"));
    assertThat(jar).exists();
    ProcessBuilder pb =
        new ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-jar",
            jar.toString(),
            "train",
            config.toString());
    pb.redirectOutput(tmp.resolve("stdout.txt").toFile());
    pb.redirectError(tmp.resolve("stderr.txt").toFile());
    Process p = pb.start();
    assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
    return new Run(
        p.exitValue(),
        Files.readAllLines(tmp.resolve("stdout.txt")),
        Files.readString(tmp.resolve("stderr.txt"), StandardCharsets.UTF_8));
  }

  @Test
  void jarTrainsAndReportsLikeATrialPod() throws Exception {
    Path out = tmp.resolve("out");
    TrialConfig c =
        Fixtures.config(
            Fixtures.model("tiny-gpt2"),
            Fixtures.countingData(tmp, 20, 3),
            out,
            List.of("c_attn"),
            4);
    Run r = run(Fixtures.writeConfig(tmp.resolve("trial.json"), c));
    assertThat(r.exitCode()).as(r.stderr()).isEqualTo(ExitCodes.OK);
    List<ProgressEvent> events = new ArrayList<>();
    for (String line : r.stdout()) {
      events.add(ContractJson.mapper().readValue(line, ProgressEvent.class));
    }
    assertThat(events).extracting(ProgressEvent::event).contains("step", "eval", "done");
    assertThat(events.stream().filter(e -> e.event().equals("step")).count()).isEqualTo(4);
    TrialSummary s =
        ContractJson.parseSummary(Files.readString(out.resolve("termination-log"))).orElseThrow();
    assertThat(s.succeeded()).isTrue();
    assertThat(out.resolve("adapter_model.safetensors")).exists();
  }

  @Test
  void jarExitsThreeOnBadData() throws Exception {
    Path data = tmp.resolve("bad.jsonl");
    Files.write(data, List.of("{\"text\": \"one\"}", "not json"));
    Path out = tmp.resolve("out");
    TrialConfig c = Fixtures.config(Fixtures.model("tiny-gpt2"), data, out, List.of("c_attn"), 4);
    Run r = run(Fixtures.writeConfig(tmp.resolve("trial.json"), c));
    assertThat(r.exitCode()).isEqualTo(ExitCodes.DATA_ERROR);
    assertThat(r.stderr()).contains("line 2: not valid JSON");
    assertThat(
            ContractJson.parseSummary(Files.readString(out.resolve("termination-log")))
                .orElseThrow()
                .reason())
        .isEqualTo("DataError");
  }
}
