package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.contract.ContractJson;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault injection on the trainer, with figures: the packaged trainer is killed with SIGKILL at a
 * seeded random step, started again on the same folder as a retried trial pod is, and must end
 * where an uninterrupted run with the same seed ends (final loss within 1e-3; in practice equal,
 * since a resume restores the weights, the optimizer, the data order and the random state).
 *
 * <p>The IT tier kills three runs; {@code make chaos} more ({@code -Dchaos.trainer-runs}), and
 * {@code -Dchaos.seed} replays one.
 */
class TrainerKillIT {

  static final int RUNS = Integer.getInteger("chaos.trainer-runs", 3);
  static final long SEED =
      Long.getLong("chaos.seed", ThreadLocalRandom.current().nextLong(1, 1_000_000));
  static final int STEPS = 40;
  static final int CHECKPOINT_EVERY = 5;

  @TempDir Path tmp;

  @Test
  void aTrainerKilledAtARandomStepResumesAndEndsWhereAnUninterruptedRunEnds() throws Exception {
    Path data = Fixtures.countingData(tmp.resolve("data"), 48, 2);
    TrialSummary uninterrupted = runToTheEnd(config(data, tmp.resolve("uninterrupted")));
    double reference = uninterrupted.metrics().trainLoss();
    System.out.printf(
        "trainer-kill: %d runs, seeds %d..%d; uninterrupted final train loss %.6f%n",
        RUNS, SEED, SEED + RUNS - 1, reference);

    double worst = 0;
    for (int run = 0; run < RUNS; run++) {
      long seed = SEED + run;
      int killAt = 1 + new Random(seed).nextInt(STEPS - 1);
      Path out = tmp.resolve("killed-" + seed);
      Path configFile = Fixtures.writeConfig(out.resolveSibling(seed + ".json"), config(data, out));
      int killedAfter = killAtStep(configFile, out, killAt);
      TrialSummary resumed = runToTheEnd(configFile, out);
      double difference = Math.abs(resumed.metrics().trainLoss() - reference);
      worst = Math.max(worst, difference);
      System.out.printf(
          "trainer-kill: seed %d, SIGKILL after step %d (aimed at %d, checkpoints every %d),"
              + " resumed to step %d: final train loss %.6f, |difference| %.2e (goal <= 1e-3)%n",
          seed,
          killedAfter,
          killAt,
          CHECKPOINT_EVERY,
          resumed.metrics().steps(),
          resumed.metrics().trainLoss(),
          difference);
      assertThat(resumed.metrics().steps()).isEqualTo(STEPS);
    }
    System.out.printf("trainer-kill: worst |difference| %.2e over %d runs%n", worst, RUNS);
    assertThat(worst).isLessThanOrEqualTo(1e-3);
  }

  private static TrialConfig config(Path data, Path out) throws Exception {
    TrialConfig base =
        Fixtures.config(Fixtures.model("tiny-gpt2"), data, out, List.of("c_attn"), STEPS);
    // Dropout and accumulation on: everything a resume must restore.
    TrialConfig.Training training =
        new TrialConfig.Training(
            1e-2,
            null,
            STEPS,
            4,
            2,
            32,
            2,
            "cosine",
            0.01,
            1.0,
            7,
            "fp32",
            CHECKPOINT_EVERY,
            0,
            false,
            false);
    TrialConfig.Lora lora = new TrialConfig.Lora(4, 8, 0.1, List.of("c_attn", "c_fc"), false, 4.0);
    return base.withLora(lora)
        .withTraining(training)
        .withOutput(out.toString(), out.resolve("termination-log").toString());
  }

  private TrialSummary runToTheEnd(TrialConfig config) throws Exception {
    Path out = Path.of(config.outputDir());
    return runToTheEnd(Fixtures.writeConfig(out.resolveSibling("uninterrupted.json"), config), out);
  }

  private TrialSummary runToTheEnd(Path configFile, Path out) throws Exception {
    Process trainer = start(configFile, out.resolveSibling(out.getFileName() + ".stdout"));
    assertThat(trainer.waitFor(5, TimeUnit.MINUTES)).isTrue();
    assertThat(trainer.exitValue()).isZero();
    return ContractJson.parseSummary(Files.readString(out.resolve("termination-log")))
        .orElseThrow();
  }

  /** Starts the trainer, SIGKILLs it once its progress lines reach {@code step}; the last step. */
  private int killAtStep(Path configFile, Path out, int step) throws Exception {
    Path stdout = out.resolveSibling(out.getFileName() + ".killed.stdout");
    Process trainer = start(configFile, stdout);
    long deadline = System.currentTimeMillis() + TimeUnit.MINUTES.toMillis(5);
    while (lastStep(stdout) < step && trainer.isAlive()) {
      assertThat(System.currentTimeMillis()).as("step %d reached", step).isLessThan(deadline);
      Thread.sleep(2);
    }
    assertThat(trainer.isAlive()).as("still training at step %d", step).isTrue();
    trainer.destroyForcibly();
    trainer.waitFor();
    return lastStep(stdout);
  }

  private static int lastStep(Path stdout) throws Exception {
    int last = 0;
    if (!Files.exists(stdout)) {
      return last;
    }
    for (String line : Files.readAllLines(stdout)) {
      if (line.contains("\"event\":\"step\"")) {
        var step = ContractJson.mapper().readTree(line).get("step");
        last = step == null ? last : Math.max(last, step.asInt());
      }
    }
    return last;
  }

  private static Process start(Path configFile, Path stdout) throws Exception {
    Path jar = Path.of(System.getProperty("trainer.jar", "target/lora-trainer.jar"));
    assertThat(jar).exists();
    return new ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-jar",
            jar.toString(),
            "train",
            configFile.toString())
        .redirectOutput(stdout.toFile())
        .redirectError(ProcessBuilder.Redirect.appendTo(stdout.resolveSibling("stderr").toFile()))
        .start();
  }
}
