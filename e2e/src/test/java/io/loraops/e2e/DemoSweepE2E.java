package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Event;
import io.loraops.e2e.VllmDifferentialE2E.Greedy;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.status.Conditions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The demo's sweep ({@code make demo}: examples/quickstart-sweep.yaml) on the real node, checked as
 * issue 14 states it: the sweep's progress shows in {@code kubectl get lj} while it runs, the trial
 * with a diverging learning rate is stopped early by the median rule (its Job suspended, an Event,
 * the saving in status), the best trial is published as {@code v<N>/} with its manifest and
 * rank-analysis heatmap, the version record points there and records the merged export, and the
 * merged export (made by the publish Job of the trainer image) served as a plain model answers as
 * the published adapter does on the base.
 */
class DemoSweepE2E {

  private static final String JOB = "quickstart-sweep";
  private static final String ADAPTER = "quickstart";

  /** {@code kubectl get lj} rows: NAME, PHASE, TRIALS, then DONE%. */
  private static final Pattern RUNNING_ROW =
      Pattern.compile("(?m)^" + JOB + "\\s+Running\\s+\\d+/5\\s+(\\d+)\\s");

  static final List<String> PROMPTS =
      List.of("a lora adapter", "the cat is", "count : one two", "question : what is the tree ?");
  static final double LOGPROB_TOLERANCE = 1e-4;

  @Test
  void divergingTrialStopsEarlyAndTheMergedExportAnswersAsTheAdapter() throws Exception {
    try (LocalMode local = new LocalMode("demo")) {
      long started = System.nanoTime();
      local.kubectl(
          "apply", "-f", LocalMode.REPO.resolve("examples/quickstart-sweep.yaml").toString());

      // Live progress: while trials run, `kubectl get lj` has the share of steps done (DONE%).
      List<String> progressRows = new ArrayList<>();
      LoraJob job = awaitCompleteWatchingProgress(local, progressRows, Duration.ofMinutes(10));
      System.out.printf(
          "demo sweep: complete after %.0f s; kubectl get lj while running:%n  %s%n",
          (System.nanoTime() - started) / 1e9, String.join("\n  ", progressRows));
      assertThat(progressRows)
          .as("kubectl get lj rows with Running and 0 < DONE% < 100")
          .isNotEmpty();

      // t000..t003: ranks 4, 8, 16, 32 at 0.003 (the seed's order), all trained to the end.
      List<TrialStatus> trials = job.getStatus().getTrials();
      assertThat(trials).hasSize(5);
      for (int i = 0; i < 4; i++) {
        TrialStatus t = trials.get(i);
        assertThat(t.getParameters().getRank()).isEqualTo(List.of(4, 8, 16, 32).get(i));
        assertThat(t.getParameters().getLearningRate()).isEqualTo(0.003);
        assertThat(t.getPhase()).as(t.getName() + ": " + t.getMessage()).isEqualTo("Succeeded");
        assertThat(t.getMetrics().getSteps()).isEqualTo(3000L);
      }

      // t004: learning rate 1.0, stopped by the median rule with its numbers, its Job suspended.
      TrialStatus diverged = trials.get(4);
      assertThat(diverged.getParameters().getLearningRate()).isEqualTo(1.0);
      assertThat(diverged.getPhase()).as(diverged.getMessage()).isEqualTo("EarlyStopped");
      Matcher rule =
          Pattern.compile(
                  "eval loss (\\S+) at step (\\d+) is worse than the median (\\S+) of 4 finished"
                      + " trials at that step \\(sweep.earlyStopping: Median\\)")
              .matcher(diverged.getMessage());
      assertThat(rule.find()).as(diverged.getMessage()).isTrue();
      assertThat(Double.parseDouble(rule.group(1)))
          .as("the diverged trial's loss against the median")
          .isGreaterThan(Double.parseDouble(rule.group(3)));
      assertThat(diverged.getProgress().getStep()).as("steps taken").isLessThan(3000L);
      assertThat(
              local
                  .client
                  .batch()
                  .v1()
                  .jobs()
                  .inNamespace(local.namespace)
                  .withName(diverged.getJobName())
                  .get()
                  .getSpec()
                  .getSuspend())
          .as("the stopped trial's Job is suspended")
          .isTrue();
      // Events are written after the reconcile that records them (EventRecorder): wait for it.
      await().atMost(Duration.ofSeconds(10)).until(() -> stopEvents(local).size() == 1);
      List<Event> stopEvents = stopEvents(local);
      assertThat(local.client.v1().events().inNamespace(local.namespace).list().getItems())
          .as("a stopped trial's end is recorded once, as TrialEarlyStopped, not as a failure")
          .noneMatch(e -> "TrialFailed".equals(e.getReason()));
      assertThat(stopEvents.get(0).getMessage()).contains(diverged.getName(), "median");
      var saved = job.getStatus().getEarlyStopping();
      System.out.printf("%s: %s; %s%n", diverged.getName(), diverged.getMessage(), saved);
      assertThat(saved.getStoppedTrials()).isEqualTo(1);
      assertThat(saved.getStepsSaved()).isEqualTo(3000L - diverged.getProgress().getStep());
      assertThat(saved.getGpuSecondsSaved()).as("one (simulated) GPU per trial").isPositive();
      assertThat(job.getStatus().getTrialsEarlyStopped()).isEqualTo(1);
      String table = local.kubectl("get", "lj", JOB, "-o", "wide");
      System.out.println(table);
      assertThat(table).contains("Succeeded", "5/5", "100");

      // The best succeeded trial, published as v1/ with its manifest, rank analysis and heatmap.
      TrialStatus best = trials.get(0);
      for (TrialStatus t : trials.subList(1, 4)) {
        if (t.getMetrics().getEvalLoss() < best.getMetrics().getEvalLoss()) {
          best = t;
        }
      }
      assertThat(job.getStatus().getBestTrial().getName()).isEqualTo(best.getName());
      assertThat(job.getStatus().getPublishedVersion()).isEqualTo(1);
      LoraAdapter adapter =
          local
              .client
              .resources(LoraAdapter.class)
              .inNamespace(local.namespace)
              .withName(ADAPTER)
              .get();
      AdapterVersion v1 = adapter.getStatus().getVersions().get(0);
      assertThat(v1.getArtifactUri()).isEqualTo("pvc://adapters/" + ADAPTER + "/v1");
      assertThat(v1.getMergedUri()).isEqualTo("pvc://adapters/" + ADAPTER + "/v1/merged");
      assertThat(v1.getDigest()).isEqualTo(best.getDigest());
      ConfigMap record =
          local
              .client
              .configMaps()
              .inNamespace(local.namespace)
              .withName("loraadapter-" + ADAPTER + "-v1")
              .get();
      assertThat(record.getMetadata().getLabels())
          .containsEntry("loraops.io/version-state", "Published");
      JsonNode recorded = new ObjectMapper().readTree(record.getData().get("version.json"));
      assertThat(recorded.get("artifactUri").asText()).isEqualTo(v1.getArtifactUri());
      assertThat(recorded.get("mergedUri").asText()).isEqualTo(v1.getMergedUri());
      assertThat(recorded.get("digest").asText()).isEqualTo(v1.getDigest());

      Path version = local.local(v1.getArtifactUri());
      JsonNode manifest = new ObjectMapper().readTree(version.resolve("manifest.json").toFile());
      assertThat(manifest.get("version").asInt()).isEqualTo(1);
      assertThat(manifest.get("digest").asText()).isEqualTo(v1.getDigest());
      assertThat(manifest.get("source").get("trial").asText()).isEqualTo(best.getName());
      assertThat(manifest.get("mergedPath").asText()).isEqualTo("merged");
      assertThat(manifest.get("rankAnalysis").asText()).isEqualTo("rank-analysis.json");
      assertThat(Files.readString(version.resolve("rank-analysis.svg"))).startsWith("<svg");
      var ranks = job.getStatus().getRankAnalysis();
      assertThat(ranks.getHeatmapUri()).isEqualTo(v1.getArtifactUri() + "/rank-analysis.svg");
      assertThat(ranks.getSummary()).hasSize(3);
      System.out.println("rank analysis: " + ranks.getSummary());

      // The merged export: lora_merge.json names this adapter, and served with no adapter it
      // answers as the adapter on the base: the same greedy token ids, log-probabilities within
      // float32 rounding. The adapter answers differently from the base, so the check can fail.
      Path merged = local.local(v1.getMergedUri());
      JsonNode mergeRecord =
          new ObjectMapper().readTree(merged.resolve("lora_merge.json").toFile());
      assertThat(mergeRecord.toString()).contains(v1.getDigest());
      Path base = local.claims.resolve("models/tiny-llama-h32");
      try (InferenceProcess onBase = InferenceProcess.ours(base, local.work.resolve("serve-base"));
          InferenceProcess plain =
              InferenceProcess.ours(merged, local.work.resolve("serve-merged"))) {
        onBase.awaitReady(Duration.ofMinutes(1));
        plain.awaitReady(Duration.ofMinutes(1));
        onBase.load("quickstart-v1", version);
        double worst = 0;
        for (String prompt : PROMPTS) {
          Greedy withAdapter = VllmDifferentialE2E.greedy(onBase, "quickstart-v1", prompt);
          Greedy fromMerged =
              VllmDifferentialE2E.greedy(plain, InferenceProcess.servedName(merged), prompt);
          Greedy baseOnly =
              VllmDifferentialE2E.greedy(onBase, InferenceProcess.servedName(base), prompt);
          System.out.printf(
              "'%s': adapter %s, merged %s, base %s%n",
              prompt, withAdapter.tokens(), fromMerged.tokens(), baseOnly.tokens());
          assertThat(fromMerged.tokens())
              .as(prompt + ": token ids")
              .isEqualTo(withAdapter.tokens());
          for (int i = 0; i < withAdapter.logprobs().size(); i++) {
            double expected = withAdapter.logprobs().get(i);
            assertThat(fromMerged.logprobs().get(i))
                .as(prompt + ": log-probability of token " + i)
                .isCloseTo(expected, within(LOGPROB_TOLERANCE));
            worst = Math.max(worst, Math.abs(fromMerged.logprobs().get(i) - expected));
          }
          assertThat(withAdapter.tokens())
              .as(prompt + ": the adapter changes the answer")
              .isNotEqualTo(baseOnly.tokens());
        }
        System.out.printf("merged export: log-probabilities within %.1e of the adapter's%n", worst);
      }
    }
  }

  private static List<Event> stopEvents(LocalMode local) {
    return local.client.v1().events().inNamespace(local.namespace).list().getItems().stream()
        .filter(e -> "TrialEarlyStopped".equals(e.getReason()))
        .filter(e -> JOB.equals(e.getInvolvedObject().getName()))
        .toList();
  }

  /**
   * Waits until the LoraJob is Complete (fails fast on Failed), and meanwhile keeps each {@code
   * kubectl get lj} row that shows it Running with 0 < DONE% < 100.
   */
  private static LoraJob awaitCompleteWatchingProgress(
      LocalMode local, List<String> rows, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      LoraJob j = local.loraJob(JOB);
      if (j != null && j.getStatus() != null) {
        if (Conditions.isTrue(j.getStatus().getConditions(), "Failed")) {
          throw new AssertionError(JOB + " failed: " + j.getStatus());
        }
        if (Conditions.isTrue(j.getStatus().getConditions(), "Complete")) {
          return j;
        }
        String table = local.kubectl("get", "lj", JOB);
        Matcher m = RUNNING_ROW.matcher(table);
        if (m.find()) {
          int done = Integer.parseInt(m.group(1));
          // Without AGE, the last column, which changes every second.
          String row =
              table
                  .lines()
                  .filter(l -> l.startsWith(JOB))
                  .findFirst()
                  .orElseThrow()
                  .replaceFirst("\\s+\\S+\\s*$", "");
          if (done > 0
              && done < 100
              && (rows.isEmpty() || !rows.get(rows.size() - 1).equals(row))) {
            rows.add(row);
          }
        }
      }
      Thread.sleep(1000);
    }
    throw new AssertionError(JOB + " did not complete in " + timeout + ": " + local.loraJob(JOB));
  }
}
