package io.loraops.operator.reconciler;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.CustomResource;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.RetryInfo;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.status.ReconcileErrors;
import io.loraops.operator.support.EventRecorder;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The error path both reconcilers share: a reconcile that keeps failing (a version record the API
 * server refuses, a missing permission) shows as {@code Synced} False {@code ReconcileError} with
 * the error, and a Warning Event when it starts; the framework retries it either way
 * ({@code @GradualRetry} on each reconciler).
 */
final class ErrorStatus {
  private ErrorStatus() {}

  static <S, R extends CustomResource<?, S>> ErrorStatusUpdateControl<R> show(
      R resource,
      Context<R> context,
      EventRecorder events,
      Exception error,
      Instant now,
      Supplier<S> emptyStatus,
      Function<S, List<Condition>> conditions,
      BiConsumer<S, List<Condition>> setConditions,
      Supplier<R> fresh) {
    int failedInARow = context.getRetryInfo().map(RetryInfo::getAttemptCount).orElse(0) + 1;
    if (!ReconcileErrors.shown(failedInARow)) {
      return ErrorStatusUpdateControl.defaultErrorProcessing();
    }
    // The framework hands each attempt its own copy of the object: changing it here is safe.
    S status = resource.getStatus() == null ? emptyStatus.get() : resource.getStatus();
    List<Condition> previous = conditions.apply(status);
    List<Condition> failing =
        ReconcileErrors.failing(previous, error, resource.getMetadata().getGeneration(), now);
    if (Objects.equals(previous, failing)) {
      return ErrorStatusUpdateControl.noStatusUpdate(); // shown already; retried all the same
    }
    for (Condition changed : Conditions.changed(previous, failing)) {
      events.record(
          context.getClient(),
          resource,
          EventRecorder.WARNING,
          changed.getReason(),
          changed.getMessage(),
          now);
    }
    setConditions.accept(status, failing);
    return ErrorStatusUpdateControl.patchStatus(StatusPatch.fresh(resource, status, fresh));
  }
}
