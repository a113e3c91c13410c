package io.loraops.contract;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.util.Optional;

/** The one JSON mapping of the contract, used by both sides. */
public final class ContractJson {

  // Unknown fields are ignored so that a newer operator can talk to an older trainer and back.
  // Sorted keys keep the wire form stable, so golden files compare byte for byte.
  private static final ObjectMapper MAPPER =
      JsonMapper.builder()
          .serializationInclusion(JsonInclude.Include.NON_NULL)
          .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
          .enable(MapperFeature.SORT_PROPERTIES_ALPHABETICALLY)
          .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
          .build();

  private ContractJson() {}

  public static ObjectMapper mapper() {
    return MAPPER;
  }

  /** Pretty JSON, for files people read (trial.json). */
  public static String toPrettyJson(Object value) {
    try {
      return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("cannot serialize " + value.getClass().getSimpleName(), e);
    }
  }

  /** Compact JSON, for one-line progress events and the termination message. */
  public static String toJson(Object value) {
    try {
      return MAPPER.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("cannot serialize " + value.getClass().getSimpleName(), e);
    }
  }

  public static TrialConfig readConfig(String json) throws JsonProcessingException {
    return MAPPER.readValue(json, TrialConfig.class);
  }

  public static PublishConfig readPublishConfig(String json) throws JsonProcessingException {
    return MAPPER.readValue(json, PublishConfig.class);
  }

  /** Parses a publish pod's termination message; empty as for {@link #parseSummary}. */
  public static Optional<PublishSummary> parsePublishSummary(String terminationMessage) {
    if (terminationMessage == null || terminationMessage.isBlank()) {
      return Optional.empty();
    }
    try {
      PublishSummary summary = MAPPER.readValue(terminationMessage.strip(), PublishSummary.class);
      return summary.outcome() == null ? Optional.empty() : Optional.of(summary);
    } catch (JsonProcessingException e) {
      return Optional.empty();
    }
  }

  /**
   * Parses a termination message. Empty when the text is missing, truncated or not a summary
   * (Kubernetes cuts messages at 4 KiB, and a crashed process may have written nothing or a stack
   * trace instead).
   */
  public static Optional<TrialSummary> parseSummary(String terminationMessage) {
    if (terminationMessage == null || terminationMessage.isBlank()) {
      return Optional.empty();
    }
    try {
      TrialSummary summary = MAPPER.readValue(terminationMessage.strip(), TrialSummary.class);
      return summary.outcome() == null ? Optional.empty() : Optional.of(summary);
    } catch (JsonProcessingException e) {
      return Optional.empty();
    }
  }
}
