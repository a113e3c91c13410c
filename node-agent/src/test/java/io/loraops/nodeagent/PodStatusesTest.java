package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.loraops.nodeagent.PodStatuses.Termination;
import org.junit.jupiter.api.Test;

class PodStatusesTest {

  Container c = new ContainerBuilder().withName("server").withImage("vllm:1").build();
  Termination crashed = new Termination(1, "Error", "boom", "t0", "t1", "local://42");

  @Test
  void anUnchangedPodYieldsAnEqualStatusSoNothingIsWritten() {
    PodStatus first = running(true, null, "2025-01-01T00:00:00Z");
    PodStatus again = running(true, first, "2025-01-01T00:05:00Z");
    assertThat(again).isEqualTo(first);
  }

  @Test
  void aConditionsTransitionTimeChangesOnlyWhenItFlips() {
    PodStatus notReady = running(false, null, "t-start");
    PodStatus ready = running(true, notReady, "t-ready");
    assertThat(condition(ready, "Ready").getLastTransitionTime()).isEqualTo("t-ready");
    assertThat(condition(ready, "ContainersReady").getStatus()).isEqualTo("True");
    assertThat(condition(ready, "PodScheduled").getLastTransitionTime()).isEqualTo("t-start");
  }

  @Test
  void theStatusCarriesThePodIpAndTheLoopbackHostIp() {
    PodStatus s = running(true, null, "t");
    assertThat(s.getPodIP()).isEqualTo("127.77.0.9");
    assertThat(s.getPodIPs()).singleElement().extracting("ip").isEqualTo("127.77.0.9");
    assertThat(s.getHostIP()).isEqualTo("127.0.0.1");
    assertThat(s.getHostIPs()).singleElement().extracting("ip").isEqualTo("127.0.0.1");
  }

  @Test
  void aCrashLoopWaitsWithTheLastTerminationAndItsRestartCount() {
    ContainerStatus cs =
        PodStatuses.waiting(c, 3, "CrashLoopBackOff", "back-off 20s restarting", crashed);
    assertThat(cs.getState().getWaiting().getReason()).isEqualTo("CrashLoopBackOff");
    assertThat(cs.getState().getWaiting().getMessage()).isEqualTo("back-off 20s restarting");
    assertThat(cs.getLastState().getTerminated().getExitCode()).isEqualTo(1);
    assertThat(cs.getLastState().getTerminated().getMessage()).isEqualTo("boom");
    assertThat(cs.getRestartCount()).isEqualTo(3);
    assertThat(cs.getReady()).isFalse();
  }

  @Test
  void mergeKeepsConditionsOfOtherOwners() {
    PodCondition disruption =
        new PodConditionBuilder().withType("DisruptionTarget").withStatus("True").build();
    PodStatus server =
        new PodStatusBuilder().withPhase("Pending").withConditions(disruption).build();
    PodStatus merged = PodStatuses.merge(server, running(true, null, "t"));
    assertThat(merged.getPhase()).isEqualTo("Running");
    assertThat(merged.getConditions())
        .extracting(PodCondition::getType)
        .containsExactly(
            "PodScheduled", "Initialized", "ContainersReady", "Ready", "DisruptionTarget");
  }

  private PodStatus running(boolean ready, PodStatus previous, String now) {
    return PodStatuses.status(
        "Running",
        "127.77.0.9",
        "t-start",
        PodStatuses.running(c, "local://7", 1, true, ready, "t-start", crashed),
        previous,
        now);
  }

  private static PodCondition condition(PodStatus s, String type) {
    return s.getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().get();
  }
}
