package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.operator.api.v1alpha1.TargetStatus;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WithdrawalTest {

  private static TargetStatus target(String deployment) {
    TargetStatus t = new TargetStatus();
    t.setDeployment(deployment);
    return t;
  }

  @Test
  void onlyTheAdaptersOwnNamesAreUnloaded() {
    assertThat(
            Withdrawal.namesOf(
                "support-bot",
                List.of(
                    "support-bot",
                    "support-bot-v12",
                    "support-bot-v2",
                    "support-bot-vnext",
                    "support-bot-2",
                    "support",
                    "other-v1")))
        .containsExactly("support-bot", "support-bot-v12", "support-bot-v2");
  }

  @Test
  void withdrawingUnloadsTheAdaptersNamesFromEveryReadyPodAndSaysWhoDidNotAnswer()
      throws Exception {
    FakeInferenceServer servers = new FakeInferenceServer();
    var pods = HotLoadRolloutTest.target("pod-a", "pod-b", "pod-c").pods();
    for (var pod : pods) {
      var endpoint = InferenceServer.Endpoint.of(pod, 8000);
      servers.load(endpoint, "bot", "/adapters/bot/v2", false);
      servers.load(endpoint, "bot-v2", "/adapters/bot/v2", false);
      servers.load(endpoint, "other-v1", "/adapters/other/v1", false);
    }
    servers.down.add("pod-c");

    List<String> problems = new Withdrawal(servers).withdraw("bot", "server", pods, 8000);

    assertThat(servers.servers.get("pod-a")).containsOnlyKeys("other-v1");
    assertThat(servers.servers.get("pod-b")).containsOnlyKeys("other-v1");
    assertThat(servers.servers.get("pod-c")).containsKeys("bot", "bot-v2");
    assertThat(problems).containsExactly("pod pod-c: cannot connect");
  }

  @Test
  void droppedTargetsAreThoseNoLongerNamedOrMatched() {
    assertThat(
            Withdrawal.dropped(List.of(target("a"), target("b"), target("c")), Set.of("b", "new")))
        .extracting(TargetStatus::getDeployment)
        .containsExactly("a", "c");
    assertThat(Withdrawal.dropped(null, Set.of())).isEmpty();
  }
}
