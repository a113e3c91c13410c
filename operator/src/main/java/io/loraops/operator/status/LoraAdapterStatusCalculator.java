package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterStatus;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.api.v1alpha1.TargetStatus;
import io.loraops.operator.support.EventRecorder;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * A LoraAdapter's status as a pure function of its spec and its version records.
 *
 * <ul>
 *   <li>{@code Ready}: True {@code VersionAvailable} (no serving targets) or {@code Serving}; False
 *       {@code NoVersions}, {@code VersionNotFound}, {@code BaseModelMismatch}, {@code NotServed}.
 *   <li>{@code Progressing}: True {@code RollingOut}; False {@code NoServingTargets}, {@code
 *       RolloutComplete}, {@code RolledBack}, {@code NotPromoted}.
 *   <li>{@code Degraded}: True {@code RolledBack}, {@code ServingProblem}; False {@code
 *       AsExpected}.
 *   <li>{@code Reconciling}, {@code Stalled}: for kstatus (Flux), derived from the three above by
 *       {@link #RECONCILING} and {@link #STALLED}.
 * </ul>
 *
 * <p>These follow the conventions Argo CD and Flux read for health: Progressing True while a
 * rollout runs, Degraded True when it failed, observedGeneration on the status and on every
 * condition.
 */
public final class LoraAdapterStatusCalculator {

  public static final String READY = "Ready";
  public static final String PROGRESSING = "Progressing";
  public static final String DEGRADED = "Degraded";

  /**
   * For kstatus (Flux): a rollout runs, or the adapter waits for its first version or its first
   * rollout, so a Flux Kustomization that waits on it holds until something serves.
   */
  static final Predicate<Conditions.Desired> RECONCILING =
      Conditions.is(PROGRESSING, true)
          .or(Conditions.isFalseFor(READY, Reasons.NO_VERSIONS, Reasons.NOT_SERVED));

  /**
   * For kstatus (Flux): nothing changes until a person does something: a rollout failed or cannot
   * reach a target, or the spec asks for a version that does not exist or fits another base.
   */
  static final Predicate<Conditions.Desired> STALLED =
      Conditions.is(DEGRADED, true)
          .or(Conditions.isFalseFor(READY, Reasons.VERSION_NOT_FOUND, Reasons.BASE_MODEL_MISMATCH));

  /**
   * The Event a changed condition deserves: Ready both ways (a Warning when it turns False for a
   * reason other than there being no version yet, or none served yet), Degraded turning True (a
   * Warning), any other condition turning True; none for Reconciling and Stalled, which repeat
   * another condition's news, nor for Synced (its turning False has its own Warning, from the error
   * path).
   */
  public static Optional<String> eventType(Condition changed) {
    if (Conditions.isKstatus(changed.getType())
        || ReconcileErrors.SYNCED.equals(changed.getType())) {
      return Optional.empty();
    }
    boolean isTrue = Conditions.TRUE.equals(changed.getStatus());
    if (READY.equals(changed.getType())) {
      return Optional.of(
          isTrue
                  || Reasons.NO_VERSIONS.equals(changed.getReason())
                  || Reasons.NOT_SERVED.equals(changed.getReason())
              ? EventRecorder.NORMAL
              : EventRecorder.WARNING);
    }
    if (!isTrue) {
      return Optional.empty();
    }
    return Optional.of(
        DEGRADED.equals(changed.getType()) ? EventRecorder.WARNING : EventRecorder.NORMAL);
  }

  private LoraAdapterStatusCalculator() {}

  /** What the serving targets' rollout produced, for the conditions. */
  public record ServingResult(
      Integer servingVersion,
      RolloutStatus rollout,
      List<TargetStatus> targets,
      List<String> problems,
      Optional<String> notPromoted) {}

  public static LoraAdapterStatus compute(
      LoraAdapter adapter, List<AdapterVersion> records, Instant now) {
    return compute(adapter, records, null, now);
  }

  /**
   * @param serving the rollout's result, or null when the adapter has no serving targets
   */
  public static LoraAdapterStatus compute(
      LoraAdapter adapter, List<AdapterVersion> records, ServingResult serving, Instant now) {
    List<AdapterVersion> versions =
        records.stream()
            .sorted(Comparator.comparing(AdapterVersion::getVersion).reversed())
            .toList();
    Optional<Integer> latest = versions.stream().map(AdapterVersion::getVersion).findFirst();
    var base = adapter.getSpec().getBaseModel();
    var pinned = adapter.getSpec().getVersion();
    boolean followLatest = pinned == null || pinned.getIntVal() == null;

    Optional<AdapterVersion> desired =
        followLatest
            ? versions.stream().filter(v -> base.accepts(v.getBaseModel())).findFirst()
            : versions.stream().filter(v -> v.getVersion().equals(pinned.getIntVal())).findFirst();

    Conditions.Desired ready;
    if (versions.isEmpty()) {
      ready =
          new Conditions.Desired(
              READY,
              false,
              Reasons.NO_VERSIONS,
              "no version published yet; a LoraJob with spec.adapter: "
                  + adapter.getMetadata().getName()
                  + " publishes one");
    } else if (desired.isEmpty() && !followLatest) {
      ready =
          new Conditions.Desired(
              READY,
              false,
              Reasons.VERSION_NOT_FOUND,
              "spec.version "
                  + pinned.getIntVal()
                  + " does not exist; versions are 1.."
                  + latest.get());
    } else if (desired.isEmpty() || !base.accepts(desired.get().getBaseModel())) {
      String trainedOn =
          desired
              .map(v -> "version " + v.getVersion() + " was trained on " + v.getBaseModel())
              .orElse("no version was trained on it");
      ready =
          new Conditions.Desired(
              READY,
              false,
              Reasons.BASE_MODEL_MISMATCH,
              "spec.baseModel is " + base + " but " + trainedOn);
    } else {
      ready =
          new Conditions.Desired(
              READY,
              true,
              Reasons.VERSION_AVAILABLE,
              "version "
                  + desired.get().getVersion()
                  + " is available ("
                  + desired.get().getArtifactUri()
                  + ")");
    }
    boolean usable = ready.status();

    LoraAdapterStatus status = new LoraAdapterStatus();
    LoraAdapterStatus previous = adapter.getStatus();
    status.setObservedGeneration(adapter.getMetadata().getGeneration());
    Conditions.Desired progressing =
        new Conditions.Desired(
            PROGRESSING, false, Reasons.NO_SERVING_TARGETS, "no serving targets are configured");
    Conditions.Desired degraded =
        new Conditions.Desired(DEGRADED, false, Reasons.AS_EXPECTED, "no failed rollout");
    String phase = versions.isEmpty() ? "Empty" : usable ? "Available" : "Invalid";
    if (serving != null) {
      RolloutStatus rollout = serving.rollout();
      boolean rollingOut = rollout != null && RolloutStatus.PROGRESSING.equals(rollout.getPhase());
      // A rollback degrades the adapter while its version is still wanted; once the spec wants
      // the serving version again (the bump reverted), the failure is history in status.rollout.
      boolean rolledBack =
          rollout != null
              && RolloutStatus.ROLLED_BACK.equals(rollout.getPhase())
              && usable
              && rollout.getVersion().equals(desired.get().getVersion());
      if (usable) {
        ready =
            serving.servingVersion() != null
                ? new Conditions.Desired(
                    READY,
                    true,
                    Reasons.SERVING,
                    "version "
                        + serving.servingVersion()
                        + " is served as "
                        + adapter.getMetadata().getName()
                        + " on "
                        + describe(serving.targets()))
                : new Conditions.Desired(
                    READY,
                    false,
                    Reasons.NOT_SERVED,
                    "no version is served yet"
                        + (rollingOut ? ": rolling out version " + rollout.getVersion() : ""));
        phase = serving.servingVersion() != null ? "Serving" : "Available";
      }
      if (rollingOut) {
        progressing =
            new Conditions.Desired(
                PROGRESSING,
                true,
                Reasons.ROLLING_OUT,
                "version "
                    + rollout.getVersion()
                    + ", step "
                    + (rollout.getStep() + 1)
                    + "/"
                    + rollout.getSteps()
                    + ": "
                    + rollout.getMessage());
        phase = "RollingOut";
      } else if (serving.notPromoted().isPresent()) {
        progressing =
            new Conditions.Desired(
                PROGRESSING, false, Reasons.NOT_PROMOTED, serving.notPromoted().get());
      } else if (rolledBack) {
        progressing =
            new Conditions.Desired(
                PROGRESSING,
                false,
                Reasons.ROLLED_BACK,
                "version "
                    + rollout.getVersion()
                    + " was rolled back"
                    + (rollout.getFromVersion() == null
                        ? ""
                        : " to version " + rollout.getFromVersion()));
      } else {
        progressing =
            new Conditions.Desired(
                PROGRESSING,
                false,
                Reasons.ROLLOUT_COMPLETE,
                serving.servingVersion() == null
                    ? "nothing to roll out"
                    : "version " + serving.servingVersion() + " is rolled out");
      }
      if (rolledBack) {
        boolean incompatible = RolloutStatus.INCOMPATIBLE_ADAPTER.equals(rollout.getReason());
        degraded =
            new Conditions.Desired(
                DEGRADED,
                true,
                incompatible ? Reasons.INCOMPATIBLE_ADAPTER : Reasons.ROLLED_BACK,
                "version "
                    + rollout.getVersion()
                    + (incompatible
                        ? " was refused before any load: "
                        : " failed a gate and was rolled back: ")
                    + rollout.getMessage()
                    + (serving.problems().isEmpty()
                        ? ""
                        : "; also: " + String.join("; ", serving.problems())));
        phase = "RolledBack";
      } else if (!serving.problems().isEmpty()) {
        degraded =
            new Conditions.Desired(
                DEGRADED, true, Reasons.SERVING_PROBLEM, String.join("; ", serving.problems()));
      }
    }
    status.setConditions(
        Conditions.apply(
            previous == null ? null : previous.getConditions(),
            Conditions.withKstatus(
                List.of(ready, progressing, degraded, ReconcileErrors.synced()),
                RECONCILING,
                STALLED),
            adapter.getMetadata().getGeneration(),
            now));
    status.setPhase(phase);
    status.setLatestVersion(latest.orElse(null));
    status.setDesiredVersion(usable ? desired.get().getVersion() : null);
    if (serving != null) {
      status.setServingVersion(serving.servingVersion());
      status.setRollout(serving.rollout());
      status.setTargets(serving.targets());
    } else if (previous != null) {
      // No serving block: nothing is served through the operator (it unloads dropped targets),
      // and the last rollout stays as history.
      status.setRollout(previous.getRollout());
    }
    status.setVersions(versions);
    return status;
  }

  private static String describe(List<TargetStatus> targets) {
    if (targets.isEmpty()) {
      return "no targets";
    }
    return String.join(
        ", ",
        targets.stream()
            .map(
                t ->
                    t.getPodsUpdated()
                        + "/"
                        + t.getPodsReady()
                        + " ready pods of "
                        + t.getDeployment())
            .toList());
  }
}
