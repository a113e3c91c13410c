package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import java.util.List;
import org.junit.jupiter.api.Test;

class RolloutStepsTest {

  @Test
  void aFinal100PercentStepIsImplied() {
    assertThat(RolloutSteps.normalize(List.of())).containsExactly(new IntOrString("100%"));
    assertThat(RolloutSteps.normalize(List.of(new IntOrString(1), new IntOrString("50%"))))
        .containsExactly(new IntOrString(1), new IntOrString("50%"), new IntOrString("100%"));
    assertThat(RolloutSteps.normalize(List.of(new IntOrString(1), new IntOrString("100%"))))
        .hasSize(2);
  }

  @Test
  void percentagesRoundUpAndEveryStepCoversAtLeastOnePod() {
    assertThat(RolloutSteps.podsFor(new IntOrString("50%"), 3)).isEqualTo(2);
    assertThat(RolloutSteps.podsFor(new IntOrString("10%"), 3)).isEqualTo(1);
    assertThat(RolloutSteps.podsFor(new IntOrString("100%"), 4)).isEqualTo(4);
    assertThat(RolloutSteps.podsFor(new IntOrString(1), 4)).isEqualTo(1);
    assertThat(RolloutSteps.podsFor(new IntOrString(5), 2)).isEqualTo(2);
    assertThat(RolloutSteps.podsFor(new IntOrString("50%"), 0)).isZero();
  }

  @Test
  void servedNamesAreVersionedAndParseBack() {
    assertThat(ServedNames.versioned("support-bot", 4)).isEqualTo("support-bot-v4");
    assertThat(ServedNames.versionOf("support-bot", "support-bot-v4")).contains(4);
    assertThat(ServedNames.versionOf("support-bot", "support-bot")).isEmpty();
    assertThat(ServedNames.versionOf("support-bot", "support-bot-vx")).isEmpty();
    assertThat(ServedNames.versionOf("support-bot", "other-v4")).isEmpty();
  }
}
