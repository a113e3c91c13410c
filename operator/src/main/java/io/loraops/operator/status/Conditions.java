package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Kubernetes-convention conditions: every type always present, {@code lastTransitionTime} moves
 * only when the status flips, reasons are CamelCase constants.
 */
public final class Conditions {
  public static final String TRUE = "True";
  public static final String FALSE = "False";

  /**
   * kstatus's "abnormal-true" pair, the only conditions Flux's health checks (kstatus in
   * sigs.k8s.io/cli-utils) read besides observedGeneration: Reconciling True means InProgress,
   * Stalled True means Failed, and neither True means Current. See
   * https://github.com/kubernetes-sigs/cli-utils/blob/master/pkg/kstatus/README.md
   */
  public static final String RECONCILING = "Reconciling";

  public static final String STALLED = "Stalled";

  private Conditions() {}

  /** A condition as computed, before transition times are applied. */
  public record Desired(String type, boolean status, String reason, String message) {}

  /**
   * {@code desired} followed by Reconciling and Stalled, derived from it so that they can never
   * disagree with the conditions people read: Stalled is True with the reason and message of the
   * first condition {@code stalled} matches; Reconciling likewise with {@code reconciling}, unless
   * Stalled is True (kstatus would report a stalled object as InProgress, since it checks
   * Reconciling first).
   */
  public static List<Desired> withKstatus(
      List<Desired> desired, Predicate<Desired> reconciling, Predicate<Desired> stalled) {
    Desired stall =
        mirror(STALLED, desired, stalled, Reasons.NOT_STALLED, "nothing needs a person");
    Desired busy =
        stall.status()
            ? new Desired(RECONCILING, false, Reasons.STALLED, stall.message())
            : mirror(RECONCILING, desired, reconciling, Reasons.SETTLED, "nothing is in progress");
    List<Desired> all = new ArrayList<>(desired);
    all.add(busy);
    all.add(stall);
    return all;
  }

  /** Reconciling and Stalled: they repeat other conditions, so they get no Events of their own. */
  public static boolean isKstatus(String type) {
    return RECONCILING.equals(type) || STALLED.equals(type);
  }

  /** A predicate for {@link #withKstatus}: condition {@code type} is {@code status}. */
  public static Predicate<Desired> is(String type, boolean status) {
    return d -> d.type().equals(type) && d.status() == status;
  }

  /** A predicate for {@link #withKstatus}: condition {@code type} is False for one of reasons. */
  public static Predicate<Desired> isFalseFor(String type, String... reasons) {
    return is(type, false).and(d -> List.of(reasons).contains(d.reason()));
  }

  private static Desired mirror(
      String type,
      List<Desired> desired,
      Predicate<Desired> when,
      String falseReason,
      String falseMessage) {
    return desired.stream()
        .filter(when)
        .findFirst()
        .map(d -> new Desired(type, true, d.reason(), d.message()))
        .orElse(new Desired(type, false, falseReason, falseMessage));
  }

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
