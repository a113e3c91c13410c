package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.support.Labels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Fault injection, with figures: the packaged operator is killed with SIGKILL at seeded random
 * moments of a 16-trial sweep, of its publish and of the canary rollout that follows, and the API
 * server is killed (after an etcd compaction, so watches resume from a compacted revision) in the
 * middle of the sweep. Every other run has two replicas with leader election, and the kills go to
 * the leader. Each run then counts what the operator promises never happens: duplicate trial Jobs,
 * duplicate versions, lost trial results, adapters loaded twice onto a server, a rollout left
 * unfinished; and, with two replicas, the time until another replica leads.
 *
 * <p>{@code make chaos} runs 20 runs ({@code -Dchaos.runs}, {@code -Dchaos.seed} to replay one);
 * the IT tier runs two, one of each mode, with a fresh seed each time (printed).
 *
 * <p>Stand-ins, and why: the trial pods and the inference servers are played by {@link FakeKubelet}
 * and {@link ServingPods} on this control plane, which has no node. What is under test is the
 * operator's bookkeeping across kills (the Job controller, the API server and etcd are real), and
 * 20 runs of real trainers and servers would take hours on a 2-core machine. The same kills with
 * real trainers, the chart's replicas and real vLLM run once each in the E2E tier (LocalModeE2E,
 * RealNodeE2E, VllmServingE2E).
 */
class ChaosIT {

  static final int RUNS = Integer.getInteger("chaos.runs", 2);
  static final long SEED =
      Long.getLong("chaos.seed", ThreadLocalRandom.current().nextLong(1, 1_000_000));
  static final String ADAPTER = "chaos-bot";
  static final int TRIALS = 16;
  static final Duration RUN_DEADLINE = Duration.ofMinutes(5);

  final KubernetesClient client = ControlPlane.client();

  @Test
  void killedOperatorsAndAnApiServerRestartDuplicateNothingAndLoseNothing() {
    System.out.printf("chaos: %d runs, seeds %d..%d%n", RUNS, SEED, SEED + RUNS - 1);
    List<Figures> runs = new ArrayList<>();
    for (int i = 0; i < RUNS; i++) {
      Figures figures = new Run(SEED + i, i % 2 == 1).play();
      System.out.println(figures.line());
      runs.add(figures);
    }
    System.out.println(Figures.table(runs));
    assertThat(runs).allSatisfy(f -> assertThat(f.problems()).as(f.line()).isZero());
  }

  /** What one run counted. */
  record Figures(
      long seed,
      int replicas,
      List<String> faults,
      List<Double> failoverSeconds,
      int duplicateJobs,
      int duplicateVersions,
      int lostResults,
      int loadedTwice,
      int unfinished,
      double seconds) {

    int problems() {
      return duplicateJobs + duplicateVersions + lostResults + loadedTwice + unfinished;
    }

    String line() {
      return String.format(
          "chaos: seed %d, %d replica(s), %.0f s: duplicate Jobs %d, duplicate versions %d, lost"
              + " results %d, loaded twice %d, unfinished %d; failover %s; faults: %s",
          seed,
          replicas,
          seconds,
          duplicateJobs,
          duplicateVersions,
          lostResults,
          loadedTwice,
          unfinished,
          failoverSeconds.stream().map(s -> String.format("%.1f s", s)).toList(),
          String.join(", ", faults));
    }

    static String table(List<Figures> runs) {
      StringBuilder out = new StringBuilder();
      out.append(
          String.format(
              "%nchaos: %-8s %-8s %-6s %-8s %-10s %-6s %-12s %-10s %s%n",
              "seed",
              "replicas",
              "kills",
              "dup Jobs",
              "dup vers.",
              "lost",
              "loaded twice",
              "unfinished",
              "failover (s)"));
      for (Figures f : runs) {
        out.append(
            String.format(
                "chaos: %-8d %-8d %-6d %-8d %-10d %-6d %-12d %-10d %s%n",
                f.seed,
                f.replicas,
                f.faults.stream().filter(x -> x.startsWith("kill")).count(),
                f.duplicateJobs,
                f.duplicateVersions,
                f.lostResults,
                f.loadedTwice,
                f.unfinished,
                f.failoverSeconds.stream().map(s -> String.format("%.1f", s)).toList()));
      }
      List<Double> failovers = runs.stream().flatMap(f -> f.failoverSeconds.stream()).toList();
      out.append(
          String.format(
              "chaos: %d runs, %d kills, %d problems in all; failover max %s (goal 15 s)%n",
              runs.size(),
              runs.stream()
                  .mapToLong(f -> f.faults.stream().filter(x -> x.startsWith("kill")).count())
                  .sum(),
              runs.stream().mapToInt(Figures::problems).sum(),
              failovers.isEmpty()
                  ? "-"
                  : String.format(
                      "%.1f s",
                      failovers.stream().mapToDouble(Double::doubleValue).max().orElse(0))));
      return out.toString();
    }
  }

  /** One seeded run: a fresh namespace, a sweep, its publish and rollout, and the faults. */
  final class Run {
    final long seed;
    final boolean twoReplicas;
    final Random random;
    final String namespace = ControlPlane.newNamespace("chaos");
    final int port = ThreadLocalRandom.current().nextInt(20_000, 40_000);
    final Path log;
    final FakeKubelet kubelet = new FakeKubelet(client, namespace);
    final Map<String, Double> reportedLoss = new LinkedHashMap<>(); // trial -> eval loss
    final Map<String, OperatorProcess> replicas = new ConcurrentHashMap<>(); // identity -> process
    final List<CompletableFuture<?>> starting = new ArrayList<>();
    final List<String> faults = new ArrayList<>();
    final List<Double> failovers = new ArrayList<>();
    final AtomicInteger replicasStarted = new AtomicInteger();

    Run(long seed, boolean twoReplicas) {
      this.seed = seed;
      this.twoReplicas = twoReplicas;
      this.random = new Random(seed);
      this.log = Path.of("target/chaos-" + seed + "-operator.log");
    }

    Figures play() {
      long started = System.nanoTime();
      int killAfterTrials = 1 + random.nextInt(TRIALS - 1);
      int apiServerFaultAfterTrials = 1 + random.nextInt(TRIALS - 1);
      long sweepKillDelay = random.nextInt(1000);
      long publishKillDelay = random.nextInt(1500);
      long rolloutKillDelay = random.nextInt(2500);

      try (ServingPods servers = new ServingPods(client, namespace, port)) {
        client.resource(ServingPods.deployment(namespace, "vllm", 2, Map.of())).create();
        client.resource(Manifests.loraAdapter(adapterYaml(), namespace)).create();
        client.resource(Manifests.loraJob(sweepYaml(), namespace)).create();
        startReplicaNow();
        if (twoReplicas) {
          startReplicaNow();
        }

        List<Long> killsDue = new ArrayList<>();
        List<String> killsWhy = new ArrayList<>();
        boolean sweepKill = false, apiServerFault = false, publishKill = false;
        boolean rolloutKill = false;
        long nextFinish = 0;
        long deadline = System.currentTimeMillis() + RUN_DEADLINE.toMillis();
        boolean done = false;
        while (!(done = isDone(servers)) && System.currentTimeMillis() < deadline) {
          long now = System.currentTimeMillis();
          if (now >= nextFinish) {
            finishOneTrial();
            nextFinish = now + 100 + random.nextInt(400);
          }
          finishPublishing();
          int finished = reportedLoss.size();
          if (!sweepKill && finished >= killAfterTrials) {
            sweepKill = true;
            killsDue.add(now + sweepKillDelay);
            killsWhy.add(
                String.format("kill %d ms after %d/%d trials", sweepKillDelay, finished, TRIALS));
          }
          if (!apiServerFault && finished >= apiServerFaultAfterTrials) {
            apiServerFault = true;
            restartApiServerAfterCompaction(finished);
          }
          if (!publishKill && finished == TRIALS) {
            publishKill = true;
            killsDue.add(now + publishKillDelay);
            killsWhy.add(
                String.format("kill %d ms after the last trial (publish)", publishKillDelay));
          }
          if (!rolloutKill && rolloutInProgress()) {
            rolloutKill = true;
            killsDue.add(now + rolloutKillDelay);
            killsWhy.add(String.format("kill %d ms into the canary rollout", rolloutKillDelay));
          }
          restartExitedReplicas();
          for (int i = 0; i < killsDue.size(); i++) {
            if (now >= killsDue.get(i)) {
              killLeader(killsWhy.get(i));
              killsDue.remove(i);
              killsWhy.remove(i);
              break;
            }
          }
          sleep(50);
        }
        killsWhy.forEach(why -> faults.add(why + " (not done: the run had finished)"));
        starting.forEach(CompletableFuture::join);
        replicas.values().forEach(OperatorProcess::close);
        replicas.clear();
        return count(servers, done, (System.nanoTime() - started) / 1e9);
      }
    }

    private String sweepYaml() {
      return """
          apiVersion: loraops.io/v1alpha1
          kind: LoraJob
          metadata:
            name: sweep
          spec:
            adapter: %s
            baseModel: {name: tiny, uri: "pvc://models/tiny"}
            dataset: {uri: "pvc://data/train.jsonl", format: text}
            training: {maxSteps: 20, sequenceLength: 64}
            output: {uri: "pvc://adapters"}
            resources: {gpus: 1}
            sweep:
              rank: [4, 8, 16, 32]
              alphaPerRank: 2
              learningRate: [1.0e-4, 2.0e-4, 5.0e-4, 1.0e-3]
              parallelism: 4
          """
          .formatted(ADAPTER);
    }

    /** Serves whatever is latest on the stand-ins' Deployment, one pod first, then all. */
    private String adapterYaml() {
      return """
          apiVersion: loraops.io/v1alpha1
          kind: LoraAdapter
          metadata:
            name: %s
          spec:
            baseModel: {name: tiny}
            version: latest
            serving:
              targets: [{deployment: vllm}]
              loader: hotLoad
              port: %d
              rollout:
                steps: [1, "100%%"]
                pauseSeconds: 3
          """
          .formatted(ADAPTER, port);
    }

    /** The kubelet's part: one running trial pod, picked at random, succeeds. */
    private void finishOneTrial() {
      try {
        List<Pod> running = kubelet.runningPods(null);
        if (running.isEmpty()) {
          return;
        }
        Pod pod = running.get(random.nextInt(running.size()));
        String trial = pod.getMetadata().getLabels().get(Labels.TRIAL);
        // The same loss for a trial whatever the timing, so a seed replays the same sweep.
        double loss = 1.0 + new Random(seed * 31 + trial.hashCode()).nextDouble();
        kubelet.succeed(pod, loss);
        reportedLoss.put(trial, loss);
      } catch (RuntimeException e) {
        // the API server is restarting, or the pod went: the next round tries again
      }
    }

    /**
     * A replica that halted by itself (it lost the Lease while the API server was away) is started
     * again, as the kubelet restarts its container.
     */
    private void restartExitedReplicas() {
      for (String identity : List.copyOf(replicas.keySet())) {
        if (!replicas.get(identity).isAlive()) {
          replicas.remove(identity);
          faults.add(identity + " exited by itself (lost the Lease) and was restarted");
          startReplica();
        }
      }
    }

    /**
     * Starts a replica. With two, in the background, as a Deployment's replacement pod starts while
     * the other replica goes on leading (the planned kills must not wait for it); alone, in the
     * foreground, since nothing reconciles until it is up anyway.
     */
    /** The kubelet's part for the publish Job: its pod reports the copy it made. */
    private void finishPublishing() {
      try {
        kubelet.publishRunning();
      } catch (RuntimeException e) {
        // the API server is restarting, or the pod went: the next round tries again
      }
    }

    private void startReplica() {
      if (twoReplicas) {
        starting.add(CompletableFuture.runAsync(this::startReplicaNow));
      } else {
        startReplicaNow();
      }
    }

    private void startReplicaNow() {
      String identity = "replica-" + replicasStarted.incrementAndGet();
      Map<String, String> env =
          twoReplicas
              ? Map.of(
                  "HOSTNAME", identity,
                  "LORA_LEADER_ELECTION_ENABLED", "true",
                  "LORA_LEADER_ELECTION_LEASE_NAMESPACE", namespace)
              : Map.of();
      replicas.put(identity, OperatorProcess.start(namespace, log, env));
    }

    /**
     * SIGKILL to the replica that reconciles, then what a Deployment does: a replacement starts.
     * With two replicas, the kill goes to the Lease's holder and the figure is the time until the
     * other replica holds it; the replacement starts after that, as a standby.
     */
    private void killLeader(String why) {
      String leader =
          twoReplicas ? leaseHolder() : replicas.keySet().stream().findFirst().orElse(null);
      OperatorProcess victim = leader == null ? null : replicas.remove(leader);
      if (victim == null) {
        faults.add(why + " (skipped: no leader yet)");
        return;
      }
      Instant killed = Instant.now();
      victim.kill();
      faults.add(why + (twoReplicas ? " (" + leader + ")" : ""));
      if (twoReplicas) {
        long deadline = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < deadline) {
          String holder = leaseHolder();
          if (holder != null && replicas.containsKey(holder) && renewedAfter(killed)) {
            failovers.add(Duration.between(killed, Instant.now()).toMillis() / 1000.0);
            break;
          }
          finishOneTrial(); // trials go on finishing while nobody leads
          sleep(100);
        }
      } else {
        sleep(random.nextInt(2000)); // the kubelet's restart delay
      }
      startReplica();
    }

    private String leaseHolder() {
      Lease lease = leaseOrNull();
      return lease == null ? null : lease.getSpec().getHolderIdentity();
    }

    private boolean renewedAfter(Instant instant) {
      Lease lease = leaseOrNull();
      return lease != null
          && lease.getSpec().getRenewTime() != null
          && lease.getSpec().getRenewTime().toInstant().isAfter(instant);
    }

    private Lease leaseOrNull() {
      try {
        return client.leases().inNamespace(namespace).withName("lora-operator-leader").get();
      } catch (RuntimeException e) {
        return null;
      }
    }

    /**
     * Compacts etcd at its current revision, then kills the API server with SIGKILL and brings the
     * control plane back on the same ports and data: every watch breaks, and one that resumes from
     * a revision before the compaction gets 410 Gone and must list again.
     */
    private void restartApiServerAfterCompaction(int finished) {
      try {
        long revision = compactEtcd();
        Path pidFile = ControlPlane.dir().resolve("run/kube-apiserver.pid");
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        ControlPlane.hack("control-plane.sh", "up", ControlPlane.dir().toString());
        faults.add(
            String.format(
                "API server killed and restarted after etcd compaction at revision %d, %d/%d"
                    + " trials",
                revision, finished, TRIALS));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }

    /** etcd's v3 JSON gateway: the current revision from a range read, then a compaction. */
    private long compactEtcd() throws IOException, InterruptedException {
      String ports = Files.readString(ControlPlane.dir().resolve("ports.env"));
      Matcher etcdPort = Pattern.compile("ETCD_PORT=(\\d+)").matcher(ports);
      assertThat(etcdPort.find()).as("ETCD_PORT in ports.env").isTrue();
      String base = "http://127.0.0.1:" + etcdPort.group(1);
      String range = post(base + "/v3/kv/range", "{\"key\":\"AA==\"}");
      Matcher revision = Pattern.compile("\"revision\":\"(\\d+)\"").matcher(range);
      assertThat(revision.find()).as("etcd revision in %s", range).isTrue();
      long current = Long.parseLong(revision.group(1));
      post(base + "/v3/kv/compaction", "{\"revision\":\"" + current + "\",\"physical\":true}");
      return current;
    }

    private static String post(String url, String body) throws IOException, InterruptedException {
      HttpResponse<String> response =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create(url))
                      .POST(HttpRequest.BodyPublishers.ofString(body))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      assertThat(response.statusCode()).as("%s: %s", url, response.body()).isEqualTo(200);
      return response.body();
    }

    private boolean rolloutInProgress() {
      LoraAdapter adapter = adapterOrNull();
      return adapter != null
          && adapter.getStatus() != null
          && adapter.getStatus().getRollout() != null
          && "Progressing".equals(adapter.getStatus().getRollout().getPhase());
    }

    /** Published once, and that version serves on both pods with the rollout over. */
    private boolean isDone(ServingPods servers) {
      try {
        LoraJob job = loraJob();
        LoraAdapter adapter = adapterOrNull();
        if (job == null
            || job.getStatus() == null
            || job.getStatus().getPublishedVersion() == null
            || adapter == null) {
          return false;
        }
        RolloutAssertions.assertServing(adapter, job.getStatus().getPublishedVersion());
        return servers.live().size() == 2
            && servers.live().values().stream().allMatch(s -> s.adapters.containsKey(ADAPTER));
      } catch (AssertionError | RuntimeException e) {
        return false;
      }
    }

    private Figures count(ServingPods servers, boolean done, double seconds) {
      List<Job> jobs = LoraJobs.trialJobs(client, namespace);
      int distinctTrials =
          new HashSet<>(
                  jobs.stream().map(j -> j.getMetadata().getLabels().get(Labels.TRIAL)).toList())
              .size();
      int versions =
          client
              .configMaps()
              .inNamespace(namespace)
              .withLabel(Labels.VERSION)
              .list()
              .getItems()
              .size();
      LoraJob job = loraJob();
      int lost = 0;
      for (Map.Entry<String, Double> reported : reportedLoss.entrySet()) {
        TrialStatus trial =
            job.getStatus().getTrials().stream()
                .filter(t -> t.getName().equals(reported.getKey()))
                .findFirst()
                .orElse(null);
        boolean kept =
            trial != null
                && "Succeeded".equals(trial.getPhase())
                && trial.getMetrics() != null
                && reported.getValue().equals(trial.getMetrics().getEvalLoss());
        lost += kept ? 0 : 1;
      }
      int loadedTwice = 0;
      for (VllmStandIn server : servers.live().values()) {
        loadedTwice += server.loads.size() - new HashSet<>(server.loads).size();
      }
      return new Figures(
          seed,
          twoReplicas ? 2 : 1,
          List.copyOf(faults),
          List.copyOf(failovers),
          jobs.size() - distinctTrials,
          Math.max(0, versions - 1),
          lost,
          loadedTwice,
          done && versions >= 1 ? 0 : 1,
          seconds);
    }

    private LoraJob loraJob() {
      return client.resources(LoraJob.class).inNamespace(namespace).withName("sweep").get();
    }

    private LoraAdapter adapterOrNull() {
      return client.resources(LoraAdapter.class).inNamespace(namespace).withName(ADAPTER).get();
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
