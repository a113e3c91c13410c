package io.loraops.operator.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

class LoraMetricsTest {
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final LoraMetrics metrics = new LoraMetrics(registry);

  private double served(String adapter, String target) {
    Gauge g =
        registry
            .find("lora.adapter.serving.version")
            .tags("namespace", "ml", "adapter", adapter, "target", target)
            .gauge();
    return g == null ? -1 : g.value();
  }

  @Test
  void servingGaugesGoWithTheirTargetOrAdapter() {
    metrics.servingVersion("ml", "bot", "vllm", 3);
    metrics.servingVersion("ml", "bot", "other", null);
    metrics.servingVersion("ml", "bot2", "vllm", 1);
    assertThat(served("bot", "vllm")).isEqualTo(3);
    assertThat(served("bot", "other")).isZero(); // pods disagree or none serves it

    metrics.forgetServing("ml", "bot", "vllm"); // dropped from spec.serving
    assertThat(served("bot", "vllm")).isEqualTo(-1);
    assertThat(served("bot", "other")).isZero();

    metrics.forgetServing("ml", "bot"); // the LoraAdapter was deleted
    assertThat(served("bot", "other")).isEqualTo(-1);
    assertThat(served("bot2", "vllm")).isEqualTo(1);

    metrics.servingVersion("ml", "bot", "vllm", 4); // served again: a fresh gauge
    assertThat(served("bot", "vllm")).isEqualTo(4);
  }
}
