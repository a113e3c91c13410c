package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class PodPathsTest {

  PodPaths paths =
      new PodPaths()
          .mount("/tmp", Path.of("/pods/p1/volumes/tmp"))
          .mount("/lora/claims/models", Path.of("/claims/models"))
          .mount("/lora/claims/models/extra/", Path.of("/claims/extra"))
          .mount("/dev/termination-log", Path.of("/pods/p1/termination-log"));

  @Test
  void rewritesWholePathPrefixesInJson() {
    String config =
        "{\"path\" : \"/lora/claims/models/tiny-gpt2\", \"terminationMessagePath\" : \"/dev/termination-log\"}";
    assertThat(paths.rewrite(config))
        .isEqualTo(
            "{\"path\" : \"/claims/models/tiny-gpt2\", \"terminationMessagePath\" : \"/pods/p1/termination-log\"}");
  }

  @Test
  void aRewrittenPathIsNeverRewrittenAgain() {
    PodPaths underTmp =
        new PodPaths()
            .mount("/tmp", Path.of("/tmp/checkout/pods/p1/volumes/tmp"))
            .mount("/etc/loraops", Path.of("/tmp/checkout/pods/p1/volumes/trial-config"));
    assertThat(underTmp.rewrite("train /etc/loraops/trial.json"))
        .isEqualTo("train /tmp/checkout/pods/p1/volumes/trial-config/trial.json");
    assertThat(underTmp.rewrite("/tmp/x")).isEqualTo("/tmp/checkout/pods/p1/volumes/tmp/x");
  }

  @Test
  void longestMountWins() {
    assertThat(paths.rewrite("/lora/claims/models/extra/a")).isEqualTo("/claims/extra/a");
  }

  @Test
  void neverRewritesAPathThatOnlyStartsLikeAMount() {
    assertThat(paths.rewrite("/tmpfoo /x/tmp tmp")).isEqualTo("/tmpfoo /x/tmp tmp");
    assertThat(paths.rewrite("HOME=/tmp")).isEqualTo("HOME=/pods/p1/volumes/tmp");
    assertThat(paths.rewrite("/tmp")).isEqualTo("/pods/p1/volumes/tmp");
  }

  @Test
  void pathsInShellScriptsEndAtShellPunctuation() {
    assertThat(paths.rewrite("echo bye >/dev/termination-log; exit 3"))
        .isEqualTo("echo bye >/pods/p1/termination-log; exit 3");
    assertThat(paths.rewrite("test -f /tmp/ok&&cat $(ls /tmp),/tmp|wc"))
        .isEqualTo(
            "test -f /pods/p1/volumes/tmp/ok&&cat $(ls /pods/p1/volumes/tmp),/pods/p1/volumes/tmp|wc");
  }
}
