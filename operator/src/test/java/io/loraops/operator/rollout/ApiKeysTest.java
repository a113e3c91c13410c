package io.loraops.operator.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.loraops.operator.api.v1alpha1.SecretKeyRef;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ApiKeysTest {
  private static final SecretKeyRef REF = ref("vllm-api-key", "api-key");

  private static SecretKeyRef ref(String name, String key) {
    SecretKeyRef ref = new SecretKeyRef();
    ref.setName(name);
    ref.setKey(key);
    return ref;
  }

  private static Secret secret(Map<String, String> plain) {
    Map<String, String> data = new java.util.HashMap<>();
    plain.forEach(
        (k, v) ->
            data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
    return new SecretBuilder().withData(data).build();
  }

  @Test
  void theKeyIsDecodedAndItsTrailingNewlineDropped() {
    assertThat(ApiKeys.from(REF, secret(Map.of("api-key", "s3cret\n")), "ns"))
        .isEqualTo(new ApiKeys.ApiKey("s3cret", null));
  }

  @Test
  void aMissingSecretOrKeySaysWhichAndWhere() {
    assertThat(ApiKeys.from(REF, null, "team-a").problem())
        .isEqualTo(
            "secret vllm-api-key (spec.serving.apiKeySecretRef) not found in namespace team-a");
    assertThat(ApiKeys.from(REF, secret(Map.of("token", "x")), "ns").problem())
        .isEqualTo("secret vllm-api-key (spec.serving.apiKeySecretRef) has no key api-key");
    assertThat(ApiKeys.from(REF, new SecretBuilder().build(), "ns").problem())
        .endsWith("has no key api-key");
  }

  @Test
  void aKeyNoHeaderCanCarryIsRefusedRatherThanSent() {
    for (String bad : new String[] {"", "  \n", "two\nlines"}) {
      assertThat(ApiKeys.from(REF, secret(Map.of("api-key", bad)), "ns").problem())
          .endsWith("key api-key is empty or holds control characters");
    }
  }

  @Test
  void stringDataIsReadWhenTheSecretHasNotBeenStoredYet() {
    Secret s = new SecretBuilder().withStringData(Map.of("api-key", "plain")).build();
    assertThat(ApiKeys.from(REF, s, "ns").value()).isEqualTo("plain");
  }
}
