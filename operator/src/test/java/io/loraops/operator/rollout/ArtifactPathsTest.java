package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import org.junit.jupiter.api.Test;

class ArtifactPathsTest {

  static PodSpec pod(String claim, String mountPath, String subPath) {
    return new PodSpecBuilder()
        .addNewContainer()
        .withName("server")
        .addNewVolumeMount()
        .withName("adapters")
        .withMountPath(mountPath)
        .withSubPath(subPath)
        .endVolumeMount()
        .endContainer()
        .addNewVolume()
        .withName("adapters")
        .withNewPersistentVolumeClaim()
        .withClaimName(claim)
        .endPersistentVolumeClaim()
        .endVolume()
        .build();
  }

  @Test
  void aClaimPathIsFoundUnderTheContainersMountOfThatClaim() {
    var resolved =
        ArtifactPaths.inPod(pod("lora", "/adapters/", null), null, "pvc://lora/bot/trials/j/t000");
    assertThat(resolved.path()).isEqualTo("/adapters/bot/trials/j/t000");
  }

  @Test
  void aSubPathMountStripsItsPrefix() {
    var resolved =
        ArtifactPaths.inPod(pod("lora", "/bot", "bot"), "server", "pvc://lora/bot/trials/j/t000");
    assertThat(resolved.path()).isEqualTo("/bot/trials/j/t000");
    assertThat(ArtifactPaths.inPod(pod("lora", "/x", "other"), "server", "pvc://lora/bot/t").ok())
        .isFalse();
  }

  @Test
  void aPodWithoutTheClaimIsToldWhatToMount() {
    var resolved = ArtifactPaths.inPod(pod("models", "/m", null), null, "pvc://lora/bot/t");
    assertThat(resolved.ok()).isFalse();
    assertThat(resolved.problem()).contains("claim lora");
    assertThat(ArtifactPaths.inPod(pod("lora", "/m", null), "nope", "pvc://lora/x").problem())
        .contains("no container named nope");
  }

  @Test
  void fileUrisAreNodePaths() {
    assertThat(ArtifactPaths.inPod(pod("lora", "/m", null), null, "file:///srv/a/v1").path())
        .isEqualTo("/srv/a/v1");
  }
}
