package io.loraops.operator.reconciler;

import io.fabric8.kubernetes.client.CustomResource;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import java.util.function.Supplier;

/** The status patch both reconcilers send. */
final class StatusPatch {
  private StatusPatch() {}

  /**
   * A fresh object holding only the identity of {@code current} and {@code status}: server-side
   * apply then owns exactly the status, and without a resourceVersion the patch never conflicts
   * with a concurrent spec edit.
   */
  static <S, R extends CustomResource<?, S>> UpdateControl<R> of(
      R current, S status, Supplier<R> fresh) {
    return UpdateControl.patchStatus(fresh(current, status, fresh));
  }

  /** The patch object itself, for the error path's {@code ErrorStatusUpdateControl}. */
  static <S, R extends CustomResource<?, S>> R fresh(R current, S status, Supplier<R> fresh) {
    R patch = fresh.get();
    patch.getMetadata().setName(current.getMetadata().getName());
    patch.getMetadata().setNamespace(current.getMetadata().getNamespace());
    patch.setStatus(status);
    return patch;
  }
}
