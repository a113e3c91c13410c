package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PodIpsTest {

  @Test
  void startsAt127_77_0_2AndSkipsAddressesInUse() {
    assertThat(PodIps.next(Set.of(), null)).isEqualTo("127.77.0.2");
    assertThat(PodIps.next(Set.of("127.77.0.2", "127.77.0.3"), null)).isEqualTo("127.77.0.4");
  }

  @Test
  void handsOutRoundRobinSoAFreedAddressIsReusedLast() {
    // 127.77.0.2 was freed just now; the next pod still gets a fresh address.
    assertThat(PodIps.next(Set.of("127.77.0.3"), "127.77.0.3")).isEqualTo("127.77.0.4");
    assertThat(PodIps.next(Set.of(), "127.77.0.9")).isEqualTo("127.77.0.10");
  }

  @Test
  void skipsNetworkAndBroadcastLikeOctetsAndWrapsAround() {
    assertThat(PodIps.next(Set.of(), "127.77.0.254")).isEqualTo("127.77.1.1");
    assertThat(PodIps.next(Set.of(), PodIps.LAST)).isEqualTo(PodIps.FIRST);
    assertThat(PodIps.next(Set.of("127.77.0.2"), PodIps.LAST)).isEqualTo("127.77.0.3");
  }

  @Test
  void anAddressOutsideTheRangeRestartsFromTheFirst() {
    assertThat(PodIps.next(Set.of(), "127.0.0.1")).isEqualTo(PodIps.FIRST);
    assertThat(PodIps.inRange("127.0.0.1")).isFalse();
    assertThat(PodIps.inRange("127.77.3.4")).isTrue();
    assertThat(PodIps.inRange("not-an-ip")).isFalse();
  }

  @Test
  void saysSoWhenEveryAddressIsTaken() {
    Set<String> all = new HashSet<>();
    for (long n = PodIps.toLong(PodIps.FIRST); n <= PodIps.toLong(PodIps.LAST); n++) {
      all.add(PodIps.toString(n));
    }
    assertThatThrownBy(() -> PodIps.next(all, null)).hasMessageContaining("no free pod IP");
  }
}
