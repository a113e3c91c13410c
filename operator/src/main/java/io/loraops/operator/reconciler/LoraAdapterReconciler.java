package io.loraops.operator.reconciler;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterStatus;
import io.loraops.operator.publish.VersionRecords;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.status.LoraAdapterStatusCalculator;
import io.loraops.operator.support.EventRecorder;
import io.loraops.operator.support.Labels;
import io.quarkiverse.operatorsdk.annotations.RBACRule;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Keeps a LoraAdapter's status (its version history and which version is wanted) in step with its
 * version records. Rolling versions out to inference servers is a later addition.
 */
@ControllerConfiguration(name = LoraAdapterReconciler.NAME)
@RBACRule(
    apiGroups = "",
    resources = "configmaps",
    verbs = {"get", "list", "watch"})
@RBACRule(
    apiGroups = "",
    resources = "events",
    verbs = {"create"})
public class LoraAdapterReconciler implements Reconciler<LoraAdapter> {

  public static final String NAME = "loraadapter";

  private final Clock clock;

  public LoraAdapterReconciler(Clock clock) {
    this.clock = clock;
  }

  @Override
  public List<EventSource<?, LoraAdapter>> prepareEventSources(
      EventSourceContext<LoraAdapter> context) {
    return List.of(
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(ConfigMap.class, LoraAdapter.class)
                .withName("version-records")
                .withLabelSelector(Labels.VERSION_RECORD_SELECTOR)
                .withSecondaryToPrimaryMapper(
                    record ->
                        Set.of(
                            new ResourceID(
                                record.getMetadata().getLabels().get(Labels.ADAPTER),
                                record.getMetadata().getNamespace())))
                .build(),
            context));
  }

  @Override
  public UpdateControl<LoraAdapter> reconcile(LoraAdapter adapter, Context<LoraAdapter> context) {
    Instant now = clock.instant();
    List<AdapterVersion> versions =
        context.getSecondaryResources(ConfigMap.class).stream()
            .flatMap(record -> VersionRecords.parse(record).stream())
            .toList();
    LoraAdapterStatus status = LoraAdapterStatusCalculator.compute(adapter, versions, now);

    LoraAdapterStatus previous = adapter.getStatus();
    if (Objects.equals(previous, status)) {
      return UpdateControl.noUpdate();
    }
    for (Condition changed :
        Conditions.changed(
            previous == null ? null : previous.getConditions(), status.getConditions())) {
      LoraAdapterStatusCalculator.eventType(changed)
          .ifPresent(
              type ->
                  EventRecorder.record(
                      context.getClient(),
                      adapter,
                      type,
                      changed.getReason(),
                      changed.getMessage(),
                      now));
    }
    if (previous != null
        && status.getLatestVersion() != null
        && !status.getLatestVersion().equals(previous.getLatestVersion())) {
      EventRecorder.record(
          context.getClient(),
          adapter,
          EventRecorder.NORMAL,
          "VersionPublished",
          "version " + status.getLatestVersion() + " published",
          now);
    }
    return StatusPatch.of(adapter, status, LoraAdapter::new);
  }
}
