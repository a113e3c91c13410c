package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class RestartsTest {

  @Test
  void restartPolicyDecidesWhetherAnExitedContainerRunsAgain() {
    assertThat(Restarts.shouldRestart("Always", 0)).isTrue();
    assertThat(Restarts.shouldRestart("Always", 1)).isTrue();
    assertThat(Restarts.shouldRestart(null, 0)).isTrue();
    assertThat(Restarts.shouldRestart("OnFailure", 0)).isFalse();
    assertThat(Restarts.shouldRestart("OnFailure", 137)).isTrue();
    assertThat(Restarts.shouldRestart("Never", 1)).isFalse();
  }

  @Test
  void firstRestartIsImmediateThenTheBackOffDoublesUpToTheCap() {
    assertThat(IntStream.rangeClosed(1, 7).mapToObj(Restarts::delay).map(Duration::toSeconds))
        .containsExactly(0L, 10L, 20L, 40L, 60L, 60L, 60L);
    assertThat(Restarts.delay(1000)).isEqualTo(Restarts.MAX);
  }

  @Test
  void aContainerThatRanLongEnoughStartsTheSequenceAgain() {
    assertThat(Restarts.inARow(0, Duration.ofSeconds(1))).isEqualTo(1);
    assertThat(Restarts.inARow(3, Duration.ofSeconds(1))).isEqualTo(4);
    assertThat(Restarts.inARow(3, Duration.ofSeconds(120))).isEqualTo(4);
    assertThat(Restarts.inARow(3, Duration.ofSeconds(121))).isEqualTo(1);
  }
}
