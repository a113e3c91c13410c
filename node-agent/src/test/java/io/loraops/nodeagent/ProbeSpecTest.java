package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProbeSpecTest {

  @Test
  void kubernetesDefaultsApplyToUnsetFields() {
    ProbeSpec spec = ProbeSpec.of(ProbeSpec.Kind.READINESS, httpGet().build());
    assertThat(spec.initialDelay()).isEqualTo(Duration.ZERO);
    assertThat(spec.period()).isEqualTo(Duration.ofSeconds(10));
    assertThat(spec.timeout()).isEqualTo(Duration.ofSeconds(1));
    assertThat(spec.successThreshold()).isEqualTo(1);
    assertThat(spec.failureThreshold()).isEqualTo(3);
  }

  @Test
  void givenFieldsWinAndLivenessAlwaysNeedsOneSuccess() {
    Probe probe =
        httpGet()
            .withInitialDelaySeconds(5)
            .withPeriodSeconds(2)
            .withTimeoutSeconds(3)
            .withSuccessThreshold(2)
            .withFailureThreshold(7)
            .build();
    ProbeSpec readiness = ProbeSpec.of(ProbeSpec.Kind.READINESS, probe);
    assertThat(readiness.initialDelay()).isEqualTo(Duration.ofSeconds(5));
    assertThat(readiness.period()).isEqualTo(Duration.ofSeconds(2));
    assertThat(readiness.timeout()).isEqualTo(Duration.ofSeconds(3));
    assertThat(readiness.successThreshold()).isEqualTo(2);
    assertThat(readiness.failureThreshold()).isEqualTo(7);
    assertThat(ProbeSpec.of(ProbeSpec.Kind.LIVENESS, probe).successThreshold()).isEqualTo(1);
    assertThat(ProbeSpec.of(ProbeSpec.Kind.STARTUP, probe).successThreshold()).isEqualTo(1);
  }

  @Test
  void aContainersProbesComeStartupFirst() {
    var c =
        new ContainerBuilder()
            .withName("c")
            .withLivenessProbe(httpGet().build())
            .withReadinessProbe(httpGet().build())
            .withStartupProbe(httpGet().build())
            .build();
    assertThat(ProbeSpec.of(c).stream().map(ProbeSpec::kind))
        .containsExactly(ProbeSpec.Kind.STARTUP, ProbeSpec.Kind.READINESS, ProbeSpec.Kind.LIVENESS);
  }

  @Test
  void readinessStartsFailedAndFollowsTheThresholds() {
    ProbeSpec.State state =
        new ProbeSpec.State(
            ProbeSpec.of(
                ProbeSpec.Kind.READINESS,
                httpGet().withSuccessThreshold(2).withFailureThreshold(2).build()));
    assertThat(state.result()).isFalse();
    assertThat(state.record(true)).isFalse();
    assertThat(state.record(true)).isTrue();
    assertThat(state.result()).isTrue();
    assertThat(state.record(false)).isFalse();
    assertThat(state.record(true)).isFalse(); // a success breaks the run of failures
    assertThat(state.record(false)).isFalse();
    assertThat(state.record(false)).isTrue();
    assertThat(state.result()).isFalse();
  }

  @Test
  void livenessStartsSucceededAndFailsAfterFailureThresholdInARow() {
    ProbeSpec.State state =
        new ProbeSpec.State(ProbeSpec.of(ProbeSpec.Kind.LIVENESS, httpGet().build()));
    assertThat(state.result()).isTrue();
    assertThat(state.record(true)).isFalse();
    assertThat(state.record(false)).isFalse();
    assertThat(state.record(false)).isFalse();
    assertThat(state.record(false)).isTrue();
    assertThat(state.result()).isFalse();
  }

  @Test
  void portsAreNumbersOrNamedContainerPorts() {
    var ports =
        List.of(new ContainerPortBuilder().withName("http").withContainerPort(8000).build());
    assertThat(Prober.port(new IntOrString(9000), ports)).isEqualTo(9000);
    assertThat(Prober.port(new IntOrString("http"), ports)).isEqualTo(8000);
    assertThat(Prober.port(new IntOrString("8080"), ports)).isEqualTo(8080);
    assertThatThrownBy(() -> Prober.port(new IntOrString("grpc"), ports))
        .hasMessageContaining("no port named grpc");
  }

  private static ProbeBuilder httpGet() {
    return new ProbeBuilder().withNewHttpGet().withPort(new IntOrString(8000)).endHttpGet();
  }
}
