package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.Secret;
import io.loraops.operator.api.v1alpha1.SecretKeyRef;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * The inference servers' API key, as read from the Secret that spec.serving.apiKeySecretRef names.
 */
public final class ApiKeys {
  private ApiKeys() {}

  /** The key, or why there is none; {@code value} is null when {@code problem} is set. */
  public record ApiKey(String value, String problem) {}

  /**
   * Reads {@code ref.key} from {@code secret} (null: not found). Surrounding whitespace is dropped:
   * a key file written by an editor or {@code echo} ends in a newline, which no HTTP header may
   * carry.
   */
  public static ApiKey from(SecretKeyRef ref, Secret secret, String namespace) {
    String where = "secret " + ref.getName() + " (spec.serving.apiKeySecretRef)";
    if (secret == null) {
      return new ApiKey(null, where + " not found in namespace " + namespace);
    }
    String encoded = secret.getData() == null ? null : secret.getData().get(ref.getKey());
    String plain = secret.getStringData() == null ? null : secret.getStringData().get(ref.getKey());
    String value;
    try {
      value =
          encoded != null
              ? new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8)
              : plain;
    } catch (IllegalArgumentException e) {
      return new ApiKey(null, where + ": key " + ref.getKey() + " is not base64");
    }
    if (value == null) {
      return new ApiKey(null, where + " has no key " + ref.getKey());
    }
    value = value.strip();
    if (value.isEmpty() || value.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
      return new ApiKey(
          null, where + ": key " + ref.getKey() + " is empty or holds control characters");
    }
    return new ApiKey(value, null);
  }
}
