package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Kubernetes-convention conditions: every type always present, {@code lastTransitionTime} moves
 * only when the status flips, reasons are CamelCase constants.
 */
public final class Conditions {
  public static final String TRUE = "True";
  public static final String FALSE = "False";

  private Conditions() {}

  /** A condition as computed, before transition times are applied. */
  public record Desired(String type, boolean status, String reason, String message) {}

  public static Optional<Condition> find(List<Condition> conditions, String type) {
    return conditions == null
        ? Optional.empty()
        : conditions.stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  public static boolean isTrue(List<Condition> conditions, String type) {
    return find(conditions, type).map(c -> TRUE.equals(c.getStatus())).orElse(false);
  }

  /**
   * The new condition list: desired values, with each condition's transition time carried over from
   * {@code previous} when its status did not change.
   */
  public static List<Condition> apply(
      List<Condition> previous, List<Desired> desired, Long generation, Instant now) {
    List<Condition> result = new ArrayList<>(desired.size());
    for (Desired d : desired) {
      String status = d.status() ? TRUE : FALSE;
      String transitionTime =
          find(previous, d.type())
              .filter(old -> status.equals(old.getStatus()))
              .map(Condition::getLastTransitionTime)
              .orElse(now.toString());
      result.add(
          new ConditionBuilder()
              .withType(d.type())
              .withStatus(status)
              .withReason(d.reason())
              .withMessage(d.message())
              .withObservedGeneration(generation)
              .withLastTransitionTime(transitionTime)
              .build());
    }
    return result;
  }

  /** Conditions that appeared or whose status or reason changed since {@code previous}. */
  public static List<Condition> changed(List<Condition> previous, List<Condition> current) {
    List<Condition> changed = new ArrayList<>();
    for (Condition c : current) {
      Optional<Condition> old = find(previous, c.getType());
      if (old.isEmpty()
          || !Objects.equals(old.get().getStatus(), c.getStatus())
          || !Objects.equals(old.get().getReason(), c.getReason())) {
        changed.add(c);
      }
    }
    return changed;
  }
}
