import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.config.OperatorSettings;
import io.loraops.operator.support.Labels;
import io.loraops.operator.sweep.SweepExpander;
import io.loraops.operator.sweep.Trial;
import io.loraops.operator.trainer.TrialJobBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The scale benchmark's client (bench/scale/run.sh runs it with the operator's own jars on the
 * class path, as a single-file program). Modes:
 *
 * <pre>
 *   raw NAMESPACE N THREADS       creates N LoraJobs and, for each, the 4 trial ConfigMaps and Jobs
 *                                 the operator would create (built by the operator's own
 *                                 TrialJobBuilder), one LoraJob per task on THREADS threads; the
 *                                 raw client's rate, with no operator running in NAMESPACE
 *   operator NAMESPACE N THREADS  creates the N LoraJobs only, on THREADS threads, and waits for the
 *                                 operator to create their trial Jobs
 *   pods NAMESPACE COUNT          waits until COUNT trial pods exist (the Job controller's work)
 * </pre>
 *
 * Either way the clock starts before the first create and stops when a watch on the namespace has
 * seen the last of the 4 x N trial Jobs appear, so both are timed by the same observer.
 */
public final class ScaleClient {
  static final int TRIALS = 4;

  public static void main(String[] args) throws Exception {
    String mode = args[0];
    String namespace = args[1];
    int count = Integer.parseInt(args[2]);
    try (KubernetesClient client = new KubernetesClientBuilder().build()) {
      switch (mode) {
        case "raw", "operator" -> {
          int threads = Integer.parseInt(args[3]);
          create(client, namespace, count, threads, mode.equals("raw"));
        }
        case "pods" -> {
          long start = System.nanoTime();
          awaitAdded(client.pods().inNamespace(namespace).withLabel(Labels.TRIAL), count, 1800);
          System.out.printf(
              "scale-bench: %d trial pods exist after %.1f s%n", count, seconds(start));
        }
        default -> throw new IllegalArgumentException("unknown mode " + mode);
      }
    }
    System.exit(0); // the HTTP client's event-loop threads would keep the JVM alive
  }

  static void create(
      KubernetesClient client, String namespace, int n, int threads, boolean raw)
      throws Exception {
    TrialJobBuilder builder = new TrialJobBuilder(OperatorSettings.defaults());
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch allJobs = new CountDownLatch(1);
    Set<String> seen = ConcurrentHashMap.newKeySet();
    int expected = n * TRIALS;
    // The operator's Events about the LoraJobs (one each here: the sweep started), written after
    // the reconcile that records them: when the last of them appears.
    CountDownLatch allEvents = new CountDownLatch(1);
    Set<String> withEvent = ConcurrentHashMap.newKeySet();
    AtomicLong lastEventNanos = new AtomicLong();
    try (Watch watch =
        client
            .batch()
            .v1()
            .jobs()
            .inNamespace(namespace)
            .withLabel(Labels.TRIAL)
            .watch(added(job -> {
              if (seen.add(job.getMetadata().getName()) && seen.size() == expected) {
                allJobs.countDown();
              }
            }));
        Watch eventWatch = // null (not watched) for the raw client, which records no Events
            raw
                ? null
                : client
                    .v1()
                    .events()
                    .inNamespace(namespace)
                    .watch(added((Event event) -> {
                      if ("LoraJob".equals(event.getInvolvedObject().getKind())
                          && withEvent.add(event.getInvolvedObject().getName())) {
                        lastEventNanos.set(System.nanoTime());
                        if (withEvent.size() == n) {
                          allEvents.countDown();
                        }
                      }
                    }))) {
      long start = System.nanoTime();
      List<Future<?>> tasks = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        String name = String.format("scale-%05d", i);
        tasks.add(
            pool.submit(
                () -> {
                  LoraJob job = client.resource(loraJob(name, namespace)).create();
                  if (raw) {
                    for (Trial trial : SweepExpander.expand(job.getSpec())) {
                      TrialJobBuilder.TrialObjects objects = builder.build(job, trial);
                      client.resource(objects.configMap()).create();
                      client.resource(objects.job()).create();
                    }
                  }
                  return null;
                }));
      }
      for (Future<?> task : tasks) {
        task.get();
      }
      double created = seconds(start);
      if (!allJobs.await(1800, TimeUnit.SECONDS)) {
        throw new IllegalStateException(
            "only " + seen.size() + " of " + expected + " trial Jobs appeared in 30 min");
      }
      double total = seconds(start);
      System.out.printf(
          "scale-bench: %s: %d LoraJobs created in %.1f s; all %d trial Jobs existed after %.1f s"
              + " (%.1f trial Jobs/s)%n",
          raw ? "raw client" : "operator", n, created, expected, total, expected / total);
      System.out.printf("scale-bench-result: %s %.3f%n", raw ? "raw" : "operator", total);
      if (eventWatch != null) {
        boolean all = allEvents.await(300, TimeUnit.SECONDS);
        double last = (lastEventNanos.get() - start) / 1e9;
        System.out.printf(
            "scale-bench: %d of %d LoraJobs have an Event; the last appeared after %.1f s (%+.1f s"
                + " from the last trial Job)%n",
            withEvent.size(), n, last, last - total);
        System.out.printf(
            "scale-bench-result: events %d %.3f %.3f%n", withEvent.size(), last, last - total);
        if (!all) {
          System.err.println("scale-bench: not every LoraJob had an Event within 300 s");
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  static void awaitAdded(
      io.fabric8.kubernetes.client.dsl.Watchable<? extends HasMetadata> what,
      int count,
      long timeoutSeconds)
      throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    Set<String> seen = ConcurrentHashMap.newKeySet();
    @SuppressWarnings({"unchecked", "rawtypes"})
    Watch watch =
        ((io.fabric8.kubernetes.client.dsl.Watchable) what)
            .watch(
                added(
                    (HasMetadata o) -> {
                      if (seen.add(o.getMetadata().getName()) && seen.size() >= count) {
                        done.countDown();
                      }
                    }));
    try {
      if (!done.await(timeoutSeconds, TimeUnit.SECONDS)) {
        throw new IllegalStateException("only " + seen.size() + " of " + count + " appeared");
      }
    } finally {
      watch.close();
    }
  }

  /** A watch from the start of history: ADDED events of objects that exist already count too. */
  static <T extends HasMetadata> Watcher<T> added(Consumer<T> onAdded) {
    return new Watcher<>() {
      @Override
      public void eventReceived(Action action, T resource) {
        if (action == Action.ADDED) {
          onAdded.accept(resource);
        }
      }

      @Override
      public void onClose(WatcherException cause) {
        if (cause != null) {
          System.err.println("scale-bench: watch closed: " + cause.getMessage());
        }
      }
    };
  }

  /** Four trials (a rank sweep, all at once) that ask for a GPU no node has: nothing trains. */
  static LoraJob loraJob(String name, String namespace) {
    LoraJob job =
        Serialization.unmarshal(
            """
            apiVersion: loraops.io/v1alpha1
            kind: LoraJob
            metadata: {name: %s, namespace: %s}
            spec:
              adapter: %s
              baseModel: {name: tiny-gpt2, uri: "pvc://models/tiny-gpt2"}
              dataset: {uri: "pvc://data/train.jsonl", format: text}
              training: {maxSteps: 20, sequenceLength: 64}
              output: {uri: "pvc://adapters"}
              resources: {gpus: 1}
              sweep:
                rank: [4, 8, 16, 32]
                alphaPerRank: 2
                parallelism: 4
            """
                .formatted(name, namespace, name),
            LoraJob.class);
    return job;
  }

  static double seconds(long startNanos) {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  private ScaleClient() {}
}
