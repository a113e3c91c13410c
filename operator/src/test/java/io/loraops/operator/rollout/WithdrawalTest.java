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
  void droppedTargetsAreThoseNoLongerNamedOrMatched() {
    assertThat(
            Withdrawal.dropped(List.of(target("a"), target("b"), target("c")), Set.of("b", "new")))
        .extracting(TargetStatus::getDeployment)
        .containsExactly("a", "c");
    assertThat(Withdrawal.dropped(null, Set.of())).isEmpty();
  }
}
