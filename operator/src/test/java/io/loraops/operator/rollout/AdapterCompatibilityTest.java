package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.ModelIdentity;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What vLLM would load silently or fail on with a 500 is refused before any load call. */
class AdapterCompatibilityTest {
  final InferenceServer.Models vllm =
      new InferenceServer.Models("tiny-llama-h32", "/models/tiny-llama-h32", Map.of());

  AdapterVersion version(String base, int rank) {
    AdapterVersion v = new AdapterVersion();
    v.setVersion(3);
    ModelIdentity identity = new ModelIdentity();
    identity.setName(base);
    v.setBaseModel(identity);
    v.setRank(rank);
    return v;
  }

  Deployment server(String container, List<String> args) {
    return new DeploymentBuilder()
        .withNewSpec()
        .withNewTemplate()
        .withNewSpec()
        .addNewContainer()
        .withName(container)
        .withArgs(args)
        .endContainer()
        .endSpec()
        .endTemplate()
        .endSpec()
        .build();
  }

  @Test
  void aVersionForTheServedBaseWithinTheRankLimitIsServable() {
    assertThat(AdapterCompatibility.check(version("tiny-llama-h32", 16), vllm, 16)).isEmpty();
    // the base may be named by the path the server was started with
    assertThat(AdapterCompatibility.check(version("/models/tiny-llama-h32", 8), vllm, null))
        .isEmpty();
  }

  @Test
  void anotherBaseModelIsRefusedByName() {
    assertThat(AdapterCompatibility.check(version("tiny-llama-h16", 8), vllm, 64))
        .hasValue(
            "version 3 was trained on baseModel.name tiny-llama-h16 but the server serves"
                + " tiny-llama-h32 (/models/tiny-llama-h32)");
  }

  @Test
  void aRankAboveTheServersLimitIsRefused() {
    assertThat(AdapterCompatibility.check(version("tiny-llama-h32", 32), vllm, 16))
        .hasValue("version 3 has rank 32, above the server's --max-lora-rank 16");
  }

  @Test
  void theLimitComesFromTheServingContainersArgsWithVllmsDefault() {
    assertThat(
            AdapterCompatibility.maxLoraRank(
                server("vllm", List.of("--model", "/m", "--enable-lora", "--max-lora-rank", "64")),
                "vllm"))
        .isEqualTo(64);
    assertThat(
            AdapterCompatibility.maxLoraRank(
                server("vllm", List.of("--enable-lora", "--max-lora-rank=32")), null))
        .isEqualTo(32);
    assertThat(AdapterCompatibility.maxLoraRank(server("vllm", List.of("--enable-lora")), "vllm"))
        .isEqualTo(16);
    assertThat(AdapterCompatibility.maxLoraRank(server("server", List.of("serve")), "server"))
        .isNull();
    assertThat(
            AdapterCompatibility.maxLoraRank(
                server("vllm", List.of("--max-lora-rank", "$(RANK)")), "vllm"))
        .isNull();
  }
}
