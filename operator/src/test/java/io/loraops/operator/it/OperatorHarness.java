package io.loraops.operator.it;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.loraops.operator.config.OperatorSettings;
import io.loraops.operator.config.ProgressSettings;
import io.loraops.operator.metrics.LoraMetrics;
import io.loraops.operator.reconciler.LoraAdapterReconciler;
import io.loraops.operator.reconciler.LoraJobReconciler;
import io.loraops.operator.support.EventRecorder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;

/**
 * The operator, in-process, as production wires it (server-side apply on), watching one namespace.
 * Start and stop it at will to test what a restart does.
 */
public final class OperatorHarness implements AutoCloseable {

  private final Operator operator;
  private final EventRecorder events = new EventRecorder();
  public final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  private OperatorHarness(KubernetesClient client, String namespace, Integer reconcileThreads) {
    operator =
        new Operator(
            o -> {
              o.withKubernetesClient(client)
                  .withCloseClientOnStop(false)
                  .withUseSSAToPatchPrimaryResource(true);
              if (reconcileThreads != null) {
                o.withConcurrentReconciliationThreads(reconcileThreads);
              }
            });
    Clock clock = Clock.systemUTC();
    operator.register(
        new LoraJobReconciler(
            OperatorSettings.defaults(),
            new LoraMetrics(registry),
            clock,
            // Tests read trial progress every half second, production every 10 s.
            new ProgressSettings(Duration.ofMillis(500), 4),
            events),
        c -> c.settingNamespace(namespace));
    operator.register(
        new LoraAdapterReconciler(clock, new LoraMetrics(registry), events),
        c -> c.settingNamespace(namespace));
    operator.start();
  }

  public static OperatorHarness start(KubernetesClient client, String namespace) {
    return new OperatorHarness(client, namespace, null);
  }

  /** With only {@code reconcileThreads} threads, to show what must not hold one. */
  public static OperatorHarness start(
      KubernetesClient client, String namespace, int reconcileThreads) {
    return new OperatorHarness(client, namespace, reconcileThreads);
  }

  @Override
  public void close() {
    operator.stop();
    events.close();
  }
}
