package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterStatus;
import io.loraops.operator.support.EventRecorder;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * A LoraAdapter's status as a pure function of its spec and its version records.
 *
 * <ul>
 *   <li>{@code Ready}: True {@code VersionAvailable}; False {@code NoVersions}, {@code
 *       VersionNotFound}, {@code BaseModelMismatch}.
 *   <li>{@code Progressing}: False {@code NoServingTargets} (rollout to inference servers is not
 *       configured).
 *   <li>{@code Degraded}: False {@code AsExpected}.
 * </ul>
 */
public final class LoraAdapterStatusCalculator {

  public static final String READY = "Ready";
  public static final String PROGRESSING = "Progressing";
  public static final String DEGRADED = "Degraded";

  /**
   * The Event a changed condition deserves: Ready both ways (a Warning when it turns False for a
   * reason other than there being no version yet), Degraded turning True (a Warning), any other
   * condition turning True.
   */
  public static Optional<String> eventType(Condition changed) {
    boolean isTrue = Conditions.TRUE.equals(changed.getStatus());
    if (READY.equals(changed.getType())) {
      return Optional.of(
          isTrue || "NoVersions".equals(changed.getReason())
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

  public static LoraAdapterStatus compute(
      LoraAdapter adapter, List<AdapterVersion> records, Instant now) {
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
              "NoVersions",
              "no version published yet; a LoraJob with spec.adapter: "
                  + adapter.getMetadata().getName()
                  + " publishes one");
    } else if (desired.isEmpty() && !followLatest) {
      ready =
          new Conditions.Desired(
              READY,
              false,
              "VersionNotFound",
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
              READY, false, "BaseModelMismatch", "spec.baseModel is " + base + " but " + trainedOn);
    } else {
      ready =
          new Conditions.Desired(
              READY,
              true,
              "VersionAvailable",
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
    status.setConditions(
        Conditions.apply(
            previous == null ? null : previous.getConditions(),
            List.of(
                ready,
                new Conditions.Desired(
                    PROGRESSING, false, "NoServingTargets", "no serving targets are configured"),
                new Conditions.Desired(DEGRADED, false, "AsExpected", "no failed rollout")),
            adapter.getMetadata().getGeneration(),
            now));
    status.setPhase(versions.isEmpty() ? "Empty" : usable ? "Available" : "Invalid");
    status.setLatestVersion(latest.orElse(null));
    status.setDesiredVersion(usable ? desired.get().getVersion() : null);
    status.setServingVersion(previous == null ? null : previous.getServingVersion());
    status.setVersions(versions);
    return status;
  }
}
