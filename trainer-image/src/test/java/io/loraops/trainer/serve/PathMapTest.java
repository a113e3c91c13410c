package io.loraops.trainer.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.loraops.trainer.TrainerException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LORAOPS_PATH_MAP resolution: longest whole-path prefix, paths outside every mount unchanged. */
class PathMapTest {
  private final PathMap map =
      PathMap.parse(
          "{\"/lora/claims\": \"/home/u/.local/claims\","
              + " \"/lora/claims/adapters/\": \"/srv/adapters\","
              + " \"/etc/lora/trial.json\": \"/tmp/t/trial.json\"}");

  @Test
  void longestWholePathPrefixWins() {
    assertThat(map.resolve("/lora/claims/adapters/job-1/v3")).isEqualTo("/srv/adapters/job-1/v3");
    assertThat(map.resolve("/lora/claims/adapters")).isEqualTo("/srv/adapters");
    assertThat(map.resolve("/lora/claims/models/tiny"))
        .isEqualTo("/home/u/.local/claims/models/tiny");
    assertThat(map.resolve("/etc/lora/trial.json")).isEqualTo("/tmp/t/trial.json");
  }

  @Test
  void onlyWholePathSegmentsMatch() {
    assertThat(map.resolve("/lora/claimsx/a")).isEqualTo("/lora/claimsx/a");
    assertThat(map.resolve("/etc/lora/trial.json.bak")).isEqualTo("/etc/lora/trial.json.bak");
    assertThat(map.resolve("/other/path")).isEqualTo("/other/path");
    assertThat(map.resolve("relative/lora/claims")).isEqualTo("relative/lora/claims");
  }

  @Test
  void rootMountsJoinWithOneSlash() {
    assertThat(new PathMap(Map.of("/", "/chroot")).resolve("/a/b")).isEqualTo("/chroot/a/b");
    assertThat(new PathMap(Map.of("/data", "/")).resolve("/data/x")).isEqualTo("/x");
    assertThat(new PathMap(Map.of("/data", "/")).resolve("/data")).isEqualTo("/");
  }

  @Test
  void unsetOrBlankMeansNoMapping() {
    assertThat(PathMap.parse(null).resolve("/lora/claims/a")).isEqualTo("/lora/claims/a");
    assertThat(PathMap.parse(" ").mounts()).isEmpty();
  }

  @Test
  void malformedValueIsABadConfigNamingTheVariable() {
    for (String bad : new String[] {"[1]", "{\"/a\": 1}", "not json"}) {
      assertThatThrownBy(() -> PathMap.parse(bad))
          .isInstanceOf(TrainerException.class)
          .hasMessageContaining("LORAOPS_PATH_MAP");
    }
  }
}
