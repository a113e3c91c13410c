package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceFieldSelectorBuilder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PodEnvTest {

  static final Pod POD =
      new PodBuilder()
          .withNewMetadata()
          .withName("server-abc")
          .withNamespace("serving")
          .withUid("uid-1")
          .withLabels(Map.of("app", "server"))
          .withAnnotations(Map.of("loraops.io/adapter", "v3"))
          .endMetadata()
          .withNewSpec()
          .withNodeName("local-node")
          .withServiceAccountName("inference")
          .endSpec()
          .build();

  static final PodEnv.Refs NO_REFS =
      new PodEnv.Refs() {
        @Override
        public Map<String, String> configMap(String name) {
          return "cm".equals(name) ? Map.of("k", "from-configmap", "bad key", "x") : null;
        }

        @Override
        public Map<String, String> secret(String name) {
          return "token".equals(name) ? Map.of("HF_TOKEN", "s3cret") : null;
        }
      };

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "status.podIP                        | 127.77.0.5",
        "status.podIPs                       | 127.77.0.5",
        "status.hostIP                       | 127.0.0.1",
        "metadata.name                       | server-abc",
        "metadata.namespace                  | serving",
        "metadata.uid                        | uid-1",
        "spec.nodeName                       | local-node",
        "spec.serviceAccountName             | inference",
        "metadata.labels['app']              | server",
        "metadata.annotations['loraops.io/adapter'] | v3",
        "metadata.labels['missing']          | ''",
      })
  void fieldRefsResolveAsTheKubeletResolvesThem(String fieldPath, String value) {
    assertThat(PodEnv.fieldRef(POD, "127.77.0.5", fieldPath)).isEqualTo(value);
  }

  @Test
  void anUnsupportedFieldRefSaysWhichAreSupported() {
    assertThatThrownBy(() -> PodEnv.fieldRef(POD, "127.77.0.5", "status.phase"))
        .hasMessageContaining("status.phase")
        .hasMessageContaining("status.podIP");
  }

  /** The cases of Kubernetes' own expansion tests (third_party/forked/golang/expansion). */
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "$(VAR_A)                | A",
        "___$(VAR_B)___          | ___B___",
        "$(VAR_A)-$(VAR_A)       | A-A",
        "$(VAR_A)$(VAR_B)        | AB",
        "$(UNKNOWN)              | $(UNKNOWN)",
        "$$(VAR_A)               | $(VAR_A)",
        "$$$(VAR_A)              | $A",
        "$$$$(VAR_A)             | $$(VAR_A)",
        "f000-$$VAR_A            | f000-$VAR_A",
        "$(VAR_A                 | $(VAR_A",
        "$VAR_A                  | $VAR_A",
        "$()                     | $()",
        "$                       | $",
        "a$                      | a$",
        "$(EMPTY)x               | x",
        "--host=$(POD_IP)        | --host=127.77.0.5",
      })
  void expandsReferencesWithKubernetesSemantics(String input, String expected) {
    Map<String, String> vars =
        Map.of("VAR_A", "A", "VAR_B", "B", "EMPTY", "", "POD_IP", "127.77.0.5");
    assertThat(PodEnv.expand(input, vars)).isEqualTo(expected);
  }

  @Test
  void aValueSeesOnlyTheVariablesDefinedBeforeIt() {
    Container c =
        container(
            env("URL", "http://$(POD_IP):$(PORT)"),
            fieldRef("POD_IP", "status.podIP"),
            env("PORT", "8000"),
            env("ADDR", "$(POD_IP):$(PORT)"),
            env("LITERAL", "$$(PORT)"));
    Map<String, String> env = PodEnv.resolve(POD, c, "127.77.0.7", Map.of(), NO_REFS);
    assertThat(env)
        .containsExactly(
            Map.entry("URL", "http://$(POD_IP):$(PORT)"),
            Map.entry("POD_IP", "127.77.0.7"),
            Map.entry("PORT", "8000"),
            Map.entry("ADDR", "127.77.0.7:8000"),
            Map.entry("LITERAL", "$(PORT)"));
  }

  @Test
  void resourceFieldRefsUseLimitsRequestsOrTheNodeAndRoundUp() {
    Container c =
        new ContainerBuilder(
                container(
                    resource("CPU", "limits.cpu", null),
                    resource("MEM_MI", "requests.memory", "1Mi"),
                    resource("NODE_MEM_GI", "limits.memory", "1Gi")))
            .withNewResources()
            .withLimits(Map.of("cpu", new Quantity("1500m")))
            .withRequests(Map.of("memory", new Quantity("100Mi")))
            .endResources()
            .build();
    Map<String, String> env =
        PodEnv.resolve(POD, c, "127.77.0.7", Map.of("memory", new Quantity("16Gi")), NO_REFS);
    assertThat(env).containsEntry("CPU", "2").containsEntry("MEM_MI", "100");
    // No memory limit: the node's allocatable, as the kubelet reports it.
    assertThat(env).containsEntry("NODE_MEM_GI", "16");
  }

  @Test
  void configMapKeysResolveAndMissingOnesAreAnErrorUnlessOptional() {
    EnvVar present =
        new EnvVarBuilder()
            .withName("A")
            .withNewValueFrom()
            .withNewConfigMapKeyRef("k", "cm", false)
            .endValueFrom()
            .build();
    EnvVar optional =
        new EnvVarBuilder()
            .withName("B")
            .withNewValueFrom()
            .withNewConfigMapKeyRef("nope", "cm", true)
            .endValueFrom()
            .build();
    assertThat(PodEnv.resolve(POD, container(present, optional), "ip", Map.of(), NO_REFS))
        .containsExactly(Map.entry("A", "from-configmap"));
    EnvVar required =
        new EnvVarBuilder()
            .withName("C")
            .withNewValueFrom()
            .withNewConfigMapKeyRef("nope", "cm", null)
            .endValueFrom()
            .build();
    assertThatThrownBy(() -> PodEnv.resolve(POD, container(required), "ip", Map.of(), NO_REFS))
        .hasMessageContaining("env C")
        .hasMessageContaining("\"nope\" not found in configmap \"cm\"");
  }

  @Test
  void envFromComesFirstPrefixedAndEnvCanUseOrReplaceIt() {
    Container c =
        new ContainerBuilder(container(env("k", "from-env"), env("AUTH", "Bearer $(HF_TOKEN)")))
            .addNewEnvFrom()
            .withPrefix("CM_")
            .withNewConfigMapRef("cm", null)
            .endEnvFrom()
            .addNewEnvFrom()
            .withNewSecretRef("token", null)
            .endEnvFrom()
            .addNewEnvFrom()
            .withNewConfigMapRef("absent", true)
            .endEnvFrom()
            .addNewEnvFrom()
            .withNewConfigMapRef("cm", null)
            .endEnvFrom()
            .build();
    Map<String, String> env = PodEnv.resolve(POD, c, "ip", Map.of(), NO_REFS);
    assertThat(env)
        .containsExactly(
            Map.entry("CM_k", "from-configmap"),
            Map.entry("HF_TOKEN", "s3cret"),
            Map.entry("k", "from-env"),
            Map.entry("AUTH", "Bearer s3cret"));
    Container missing =
        new ContainerBuilder(container())
            .addNewEnvFrom()
            .withNewSecretRef("nope", false)
            .endEnvFrom()
            .build();
    assertThatThrownBy(() -> PodEnv.resolve(POD, missing, "ip", Map.of(), NO_REFS))
        .hasMessage("envFrom: secret \"nope\" not found");
  }

  @Test
  void pathMapIsAJsonObjectFromMountPathToLocalPath() throws Exception {
    Map<String, Path> mounts = new LinkedHashMap<>();
    mounts.put("/lora/claims/adapters", Path.of("/work/claims/adapters"));
    mounts.put("/etc/loraops", Path.of("/work/pods/serving_a/volumes/config \"quoted\""));
    String json = PodEnv.pathMapJson(mounts);
    Map<String, String> parsed = new ObjectMapper().readValue(json, new TypeReference<>() {});
    assertThat(parsed)
        .containsExactly(
            Map.entry("/lora/claims/adapters", "/work/claims/adapters"),
            Map.entry("/etc/loraops", "/work/pods/serving_a/volumes/config \"quoted\""));
    assertThat(PodEnv.pathMapJson(Map.of())).isEqualTo("{}");
  }

  static Container container(EnvVar... env) {
    return new ContainerBuilder().withName("c").withImage("img").withEnv(env).build();
  }

  static EnvVar env(String name, String value) {
    return new EnvVarBuilder().withName(name).withValue(value).build();
  }

  static EnvVar fieldRef(String name, String path) {
    return new EnvVarBuilder()
        .withName(name)
        .withNewValueFrom()
        .withNewFieldRef()
        .withFieldPath(path)
        .endFieldRef()
        .endValueFrom()
        .build();
  }

  static EnvVar resource(String name, String resource, String divisor) {
    return new EnvVarBuilder()
        .withName(name)
        .withNewValueFrom()
        .withResourceFieldRef(
            new ResourceFieldSelectorBuilder()
                .withResource(resource)
                .withDivisor(divisor == null ? null : new Quantity(divisor))
                .build())
        .endValueFrom()
        .build();
  }
}
