import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.contract.ProgressEvent;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.it.FakeKubeletLogs;
import io.loraops.operator.it.OperatorProcess;
import io.loraops.operator.support.Labels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The progress benchmark (bench/progress/run.sh runs it with the operator's jars and test classes
 * on the class path, as a single-file program). TRIALS trials (one sweep, or SHAPE=jobs: as many
 * single-trial LoraJobs), all running at once on a fake kubelet (the IT's {@link FakeKubeletLogs}:
 * a Node whose kubelet endpoint serves the trainers' logs, read by the operator through the real
 * API server's {@code pods/log}); every trainer prints one step line per second and an evaluation
 * every 20 steps. The packaged operator runs twice against the same running trials: first with the
 * progress channel off (poll interval 24 h: no log is read), then on (the default 10 s, or
 * POLL_INTERVAL). Each time, once it has run for the same settling time (60 s, or 3 poll intervals
 * if longer), one window measures log reads and bytes (counted by the kubelet), LoraJob status
 * writes (a watch's MODIFIED events; nothing else writes the LoraJob) and the CPU time of the
 * operator and of kube-apiserver (/proc).
 *
 * <pre>
 *   ProgressBench NAMESPACE TRIALS WINDOW_SECONDS APISERVER_PID
 *   environment: OPERATOR_JAR, JVM_OPTIONS, MALLOC_ARENA_MAX, POLL_INTERVAL (default 10s),
 *                SHAPE (sweep: one LoraJob of TRIALS trials, the default; jobs: TRIALS LoraJobs
 *                of one trial each)
 * </pre>
 */
public final class ProgressBench {

  static final long CLOCK_TICKS = 100; // USER_HZ; run.sh checks getconf CLK_TCK
  static final int EVAL_EVERY = 20;
  static final long TOTAL_STEPS = 1_000_000;

  record Sample(long at, long reads, long bytes, long writes, long operatorTicks, long apiTicks) {}

  record Result(
      double seconds, double reads, double bytes, double writes, double opCpu, double apiCpu) {
    static Result between(Sample a, Sample b) {
      double s = (b.at - a.at) / 1e9;
      return new Result(
          s,
          (b.reads - a.reads) / s,
          (b.bytes - a.bytes) / s,
          (b.writes - a.writes) / s,
          (b.operatorTicks - a.operatorTicks) / (double) CLOCK_TICKS / s * 60,
          (b.apiTicks - a.apiTicks) / (double) CLOCK_TICKS / s * 60);
    }
  }

  public static void main(String[] args) throws Exception {
    String namespace = args[0];
    int trials = Integer.parseInt(args[1]);
    int window = Integer.parseInt(args[2]);
    long apiServer = Long.parseLong(args[3]);
    String interval = System.getenv().getOrDefault("POLL_INTERVAL", "10s");
    try (KubernetesClient client = new KubernetesClientBuilder().build();
        FakeKubeletLogs kubelet = new FakeKubeletLogs(client, namespace)) {
      ScheduledExecutorService ticks = Executors.newScheduledThreadPool(2);
      ticks.scheduleWithFixedDelay(() -> heartbeat(client, kubelet), 0, 10, TimeUnit.SECONDS);
      Map<String, Pod> running = new ConcurrentHashMap<>();
      Map<String, Long> steps = new ConcurrentHashMap<>();
      ticks.scheduleAtFixedRate(
          () -> train(client, namespace, kubelet, running, steps), 1, 1, TimeUnit.SECONDS);
      AtomicLong writes = new AtomicLong();
      Watch watch = countWrites(client, namespace, writes);
      boolean single = "jobs".equals(System.getenv().getOrDefault("SHAPE", "sweep"));
      for (LoraJob job :
          single ? singleTrialJobs(namespace, trials) : List.of(sweep(namespace, trials))) {
        client.resource(job).create();
      }

      // Each operator gets the same time from its start before its window: its JIT warms up,
      // and with the channel on, the first poll of each pod (its whole log so far) is behind it.
      long settle =
          Math.max(60, 3 * Duration.parse("PT" + interval.toUpperCase(Locale.ROOT)).toSeconds());
      OperatorProcess operator = operator(namespace, "24h");
      long started = System.nanoTime();
      awaitRunning(client, namespace, trials, running);
      log("all %d trials run; channel off: settling, then a %d s window", trials, window);
      settle(started, settle);
      Result off = measure(kubelet, writes, operator.pid(), apiServer, window);
      operator.close();

      operator = operator(namespace, interval);
      started = System.nanoTime();
      log(
          "channel on (poll interval %s): settling %d s, then a %d s window",
          interval, settle, window);
      settle(started, settle);
      Result on = measure(kubelet, writes, operator.pid(), apiServer, window);
      operator.close();
      watch.close();
      ticks.shutdownNow();

      System.out.println();
      System.out.printf(
          "progress channel at %d running trials of %s (1 step/s each, an evaluation every %d"
              + " steps), %d s windows%n",
          trials, single ? trials + " single-trial LoraJobs" : "one sweep", EVAL_EVERY, window);
      System.out.printf("%-40s%18s%22s%n", "", "off (baseline)", "on (interval " + interval + ")");
      row("log reads/s (API server -> kubelet)", "%.2f", off.reads, on.reads);
      row("bytes read/s", "%.0f", off.bytes, on.bytes);
      row("LoraJob status writes/s", "%.2f", off.writes, on.writes);
      row("operator CPU-seconds per minute", "%.2f", off.opCpu, on.opCpu);
      row("kube-apiserver CPU-seconds per minute", "%.2f", off.apiCpu, on.apiCpu);
    }
    System.exit(0); // the HTTP client's event-loop threads would keep the JVM alive
  }

  static void row(String what, String format, double off, double on) {
    System.out.printf(
        "%-40s%18s%22s%n",
        what, String.format(Locale.ROOT, format, off), String.format(Locale.ROOT, format, on));
  }

  static List<LoraJob> singleTrialJobs(String namespace, int trials) {
    List<LoraJob> jobs = new ArrayList<>();
    for (int i = 0; i < trials; i++) {
      LoraJob job =
          Serialization.unmarshal(
              """
              apiVersion: loraops.io/v1alpha1
              kind: LoraJob
              metadata:
                name: progress-%03d
              spec:
                adapter: bench-%03d
                baseModel: {name: tiny-gpt2, uri: "pvc://models/tiny-gpt2"}
                dataset: {uri: "pvc://data/train.jsonl", format: text}
                training: {maxSteps: %d, evalEverySteps: %d, sequenceLength: 64}
                output: {uri: "pvc://adapters"}
              """
                  .formatted(i, i, TOTAL_STEPS, EVAL_EVERY),
              LoraJob.class);
      job.getMetadata().setNamespace(namespace);
      jobs.add(job);
    }
    return jobs;
  }

  static LoraJob sweep(String namespace, int trials) {
    if (trials % 4 != 0 || trials / 4 > 32) {
      throw new IllegalArgumentException(
          "TRIALS must be 4 x (1..32): 4 ranks x TRIALS/4 learning rates");
    }
    List<String> rates = new ArrayList<>();
    for (int i = 1; i <= trials / 4; i++) {
      rates.add(String.format(Locale.ROOT, "%.1e", i * 1.0e-5));
    }
    LoraJob job =
        Serialization.unmarshal(
            """
            apiVersion: loraops.io/v1alpha1
            kind: LoraJob
            metadata:
              name: progress
            spec:
              adapter: bench
              baseModel: {name: tiny-gpt2, uri: "pvc://models/tiny-gpt2"}
              dataset: {uri: "pvc://data/train.jsonl", format: text}
              training: {maxSteps: %d, evalEverySteps: %d, sequenceLength: 64}
              output: {uri: "pvc://adapters"}
              sweep:
                rank: [4, 8, 16, 32]
                learningRate: [%s]
                parallelism: %d
            """
                .formatted(TOTAL_STEPS, EVAL_EVERY, String.join(", ", rates), trials),
            LoraJob.class);
    job.getMetadata().setNamespace(namespace);
    return job;
  }

  /** One second of every running trainer: a step line, and an evaluation every 20 steps. */
  static void train(
      KubernetesClient client,
      String namespace,
      FakeKubeletLogs kubelet,
      Map<String, Pod> running,
      Map<String, Long> steps) {
    try {
      for (Pod pod :
          client.pods().inNamespace(namespace).withLabel(Labels.TRIAL).list().getItems()) {
        String name = pod.getMetadata().getName();
        if (!running.containsKey(name) && pod.getMetadata().getDeletionTimestamp() == null) {
          kubelet.start(pod);
          running.put(name, pod);
          steps.put(name, 0L);
        }
      }
      for (Pod pod : running.values()) {
        long step = steps.merge(pod.getMetadata().getName(), 1L, Long::sum);
        double loss = 3.0 / Math.sqrt(step);
        kubelet.print(
            pod, new ProgressEvent("step", step, TOTAL_STEPS, loss, 1e-4, 900.0, step * 1.0));
        if (step % EVAL_EVERY == 0) {
          kubelet.print(
              pod, new ProgressEvent("eval", step, TOTAL_STEPS, loss, null, null, step * 1.0));
        }
      }
    } catch (RuntimeException e) {
      log("trainer tick failed: %s", e);
    }
  }

  /** Keeps the fake Node Ready, so the node lifecycle controller never evicts its pods. */
  static void heartbeat(KubernetesClient client, FakeKubeletLogs kubelet) {
    try {
      String now = Instant.now().toString();
      NodeCondition ready =
          new NodeConditionBuilder()
              .withType("Ready")
              .withStatus("True")
              .withReason("KubeletReady")
              .withMessage("bench/progress fake kubelet")
              .withLastHeartbeatTime(now)
              .withLastTransitionTime(now)
              .build();
      client
          .nodes()
          .withName(kubelet.node())
          .editStatus(
              n -> {
                n.getStatus().setConditions(List.of(ready));
                return n;
              });
    } catch (RuntimeException e) {
      log("node heartbeat failed: %s", e);
    }
  }

  static Watch countWrites(KubernetesClient client, String namespace, AtomicLong writes) {
    return client
        .resources(LoraJob.class)
        .inNamespace(namespace)
        .watch(
            new Watcher<>() {
              @Override
              public void eventReceived(Action action, LoraJob resource) {
                if (action == Action.MODIFIED) {
                  writes.incrementAndGet();
                }
              }

              @Override
              public void onClose(WatcherException cause) {
                log("LoraJob watch closed: %s", cause);
              }
            });
  }

  /** The packaged operator with the chart's JVM options, ready (leading). */
  static OperatorProcess operator(String namespace, String interval) {
    List<String> jvmOptions =
        Arrays.stream(System.getenv().getOrDefault("JVM_OPTIONS", "").split("\\s+"))
            .filter(o -> !o.isBlank())
            .toList();
    Path log = Path.of("operator-" + interval + ".log");
    OperatorProcess operator =
        OperatorProcess.start(
            Path.of(System.getenv("OPERATOR_JAR")),
            jvmOptions,
            namespace,
            log,
            Map.of(
                "QUARKUS_OPERATOR_SDK_CONTROLLERS_LORAJOB_NAMESPACES", namespace,
                "QUARKUS_OPERATOR_SDK_CONTROLLERS_LORAADAPTER_NAMESPACES", namespace,
                "LORA_PROGRESS_POLL_INTERVAL", interval));
    operator.awaitHealth("ready", Duration.ofSeconds(120), log);
    log("operator ready (pid %d, poll interval %s)", operator.pid(), interval);
    return operator;
  }

  static void awaitRunning(
      KubernetesClient client, String namespace, int trials, Map<String, Pod> running)
      throws InterruptedException {
    for (int i = 0; i < 600; i++) {
      int active = 0;
      for (LoraJob job : client.resources(LoraJob.class).inNamespace(namespace).list().getItems()) {
        active +=
            job.getStatus() == null || job.getStatus().getTrialsActive() == null
                ? 0
                : job.getStatus().getTrialsActive();
      }
      if (running.size() >= trials && active >= trials) {
        return;
      }
      Thread.sleep(1000);
    }
    throw new IllegalStateException(
        "the trials did not all run in 10 minutes (" + running.size() + " pods started)");
  }

  static void settle(long started, long seconds) throws InterruptedException {
    long left = seconds * 1000 - (System.nanoTime() - started) / 1_000_000;
    if (left > 0) {
      Thread.sleep(left);
    }
  }

  static Result measure(
      FakeKubeletLogs kubelet, AtomicLong writes, long operator, long apiServer, int window)
      throws Exception {
    Sample a = sample(kubelet, writes, operator, apiServer);
    Thread.sleep(window * 1000L);
    Sample b = sample(kubelet, writes, operator, apiServer);
    Result r = Result.between(a, b);
    log(
        "window: %.0f s, %.2f reads/s, %.0f bytes/s, %.2f status writes/s, operator %.2f CPU-s/min,"
            + " apiserver %.2f CPU-s/min",
        r.seconds, r.reads, r.bytes, r.writes, r.opCpu, r.apiCpu);
    return r;
  }

  static Sample sample(FakeKubeletLogs kubelet, AtomicLong writes, long operator, long apiServer)
      throws IOException {
    return new Sample(
        System.nanoTime(),
        kubelet.reads.get(),
        kubelet.bytes.get(),
        writes.get(),
        cpuTicks(operator),
        cpuTicks(apiServer));
  }

  /** utime + stime of a process, in clock ticks (proc(5): fields 14 and 15 of /proc/PID/stat). */
  static long cpuTicks(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
  }

  static void log(String format, Object... args) {
    System.err.printf("progress-bench: " + format + "%n", args);
  }
}
