package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import io.loraops.operator.api.v1alpha1.ServingTarget;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RestartTemplateTest {

  static PodTemplateSpec template() {
    return new PodTemplateSpecBuilder()
        .withNewSpec()
        .addNewContainer()
        .withName("vllm")
        .addNewEnv()
        .withName("HF_HOME")
        .withValue("/cache")
        .endEnv()
        .endContainer()
        .endSpec()
        .build();
  }

  @Test
  void theVersionGoesIntoEnvAndAnAnnotationOnceAndComesOutAgain() {
    PodTemplateSpec t = template();
    assertThat(RestartTemplate.apply(t, null, "support-bot", 4, "/adapters/v4")).isTrue();
    assertThat(RestartTemplate.versionIn(t, "support-bot")).contains(4);
    assertThat(t.getSpec().getContainers().get(0).getEnv())
        .extracting(e -> e.getName() + "=" + e.getValue())
        .containsExactly(
            "HF_HOME=/cache",
            "LORA_ADAPTER_SUPPORT_BOT_NAME=support-bot-v4",
            "LORA_ADAPTER_SUPPORT_BOT_PATH=/adapters/v4",
            "LORA_ADAPTER_SUPPORT_BOT_ALIAS=support-bot");
    // Idempotent: applying the same version again changes nothing (no needless pod restarts).
    assertThat(RestartTemplate.apply(t, null, "support-bot", 4, "/adapters/v4")).isFalse();
    assertThat(RestartTemplate.apply(t, null, "support-bot", null, null)).isTrue();
    assertThat(RestartTemplate.versionIn(t, "support-bot")).isEmpty();
    assertThat(t.getSpec().getContainers().get(0).getEnv()).hasSize(1);
  }

  @Test
  void selectorsFollowKubernetesSemantics() {
    var selector =
        new LabelSelectorBuilder()
            .withMatchLabels(Map.of("app", "vllm"))
            .addNewMatchExpression()
            .withKey("tier")
            .withOperator("In")
            .withValues("canary", "prod")
            .endMatchExpression()
            .addNewMatchExpression()
            .withKey("legacy")
            .withOperator("DoesNotExist")
            .endMatchExpression()
            .build();
    assertThat(Selectors.describe(selector)).isEqualTo("app=vllm,tier in (canary,prod),!legacy");
    assertThat(Selectors.matches(selector, Map.of("app", "vllm", "tier", "prod"))).isTrue();
    assertThat(Selectors.matches(selector, Map.of("app", "vllm", "tier", "dev"))).isFalse();
    assertThat(Selectors.matches(selector, Map.of("app", "vllm", "tier", "prod", "legacy", "1")))
        .isFalse();
    ServingTarget byName = new ServingTarget();
    byName.setDeployment("vllm-a");
    assertThat(Selectors.targets(List.of(byName), "vllm-a", Map.of())).isTrue();
    assertThat(Selectors.targets(List.of(byName), "vllm-b", Map.of())).isFalse();
  }
}
