package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RolloutPlannerTest {
  static final Instant NOW = Instant.parse("2026-11-22T10:00:00Z");

  static RolloutStatus rollout(int version, Integer from, String phase, long generation) {
    RolloutStatus r = new RolloutStatus();
    r.setVersion(version);
    r.setFromVersion(from);
    r.setPhase(phase);
    r.setStep(0);
    r.setGeneration(generation);
    r.setStartedAt("2026-11-22T09:00:00Z");
    return r;
  }

  static RolloutStatus next(RolloutStatus current, Integer serving, Integer desired, long gen) {
    return RolloutPlanner.next(current, serving, desired, gen, Optional.empty(), 3, NOW);
  }

  @Test
  void aDesiredVersionOtherThanTheServingOneStartsARolloutFromIt() {
    RolloutStatus started = next(null, 3, 4, 7);
    assertThat(started.getVersion()).isEqualTo(4);
    assertThat(started.getFromVersion()).isEqualTo(3);
    assertThat(started.getPhase()).isEqualTo(RolloutStatus.PROGRESSING);
    assertThat(started.getStep()).isZero();
    assertThat(started.getSteps()).isEqualTo(3);
    assertThat(started.getGeneration()).isEqualTo(7);
  }

  @Test
  void nothingStartsWhenTheDesiredVersionIsServedOrUnknown() {
    RolloutStatus done = rollout(4, 3, RolloutStatus.SUCCEEDED, 7);
    assertThat(next(done, 4, 4, 7)).isSameAs(done);
    assertThat(next(null, 4, null, 7)).isNull();
  }

  @Test
  void aRolloutInProgressContinuesAndIsSupersededWhenTheSpecMovesOn() {
    RolloutStatus running = rollout(4, 3, RolloutStatus.PROGRESSING, 7);
    assertThat(next(running, 3, 4, 7)).isSameAs(running);
    RolloutStatus superseded = next(running, 3, 5, 8);
    assertThat(superseded.getVersion()).isEqualTo(5);
    assertThat(superseded.getFromVersion()).isEqualTo(3);
  }

  @Test
  void aRolledBackVersionIsRetriedOnlyAfterTheSpecChanges() {
    RolloutStatus failed = rollout(4, 3, RolloutStatus.ROLLED_BACK, 7);
    assertThat(next(failed, 3, 4, 7)).isSameAs(failed);
    assertThat(next(failed, 3, 4, 8).getPhase()).isEqualTo(RolloutStatus.PROGRESSING);
    // Following latest, a newer version starts its own rollout without a spec change.
    assertThat(next(failed, 3, 5, 7).getVersion()).isEqualTo(5);
  }

  @Test
  void requireLowerEvalLossHoldsBackAVersionThatIsNotBetter() {
    AdapterVersion serving = version(3, 1.5);
    assertThat(RolloutPlanner.notBetter(version(4, 1.4), serving)).isEmpty();
    assertThat(RolloutPlanner.notBetter(version(4, 1.6), serving))
        .get()
        .asString()
        .contains("not lower than serving version 3");
    assertThat(RolloutPlanner.notBetter(version(4, 1.6), null)).isEmpty();
    RolloutStatus held = RolloutPlanner.next(null, 3, 4, 7, Optional.of("not better"), 1, NOW);
    assertThat(held).isNull();
  }

  static AdapterVersion version(int number, double evalLoss) {
    AdapterVersion v = new AdapterVersion();
    v.setVersion(number);
    TrialMetrics m = new TrialMetrics();
    m.setEvalLoss(evalLoss);
    v.setMetrics(m);
    return v;
  }
}
