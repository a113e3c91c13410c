package io.loraops.operator.reconciler;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.loraops.contract.ContractJson;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.status.TrialObserver;
import io.loraops.operator.support.Labels;

/**
 * Writes to trial Jobs that later reconciles read back from the informer cache. Each write is a
 * JSON merge patch (no resourceVersion: the operator is the only writer of these fields) and hands
 * the API server's answer to the cache, so the next reconcile sees it even before the watch event
 * arrives.
 */
final class TrialJobs {

  private TrialJobs() {}

  /**
   * Records a finished trial's result on its Job ({@link Labels#RESULT_ANNOTATION}, read back by
   * {@link TrialObserver#recordedResult}); with {@code suspend}, the same write suspends the Job,
   * so a stopped trial's record and its stop cannot be separated by a crash.
   */
  static Job recordResult(
      KubernetesClient client,
      InformerEventSource<Job, LoraJob> jobs,
      LoraJob loraJob,
      Job job,
      TrialStatus trial,
      boolean suspend) {
    ObjectNode patch = JsonNodeFactory.instance.objectNode();
    patch
        .putObject("metadata")
        .putObject("annotations")
        .put(Labels.RESULT_ANNOTATION, TrialObserver.resultAnnotation(trial));
    if (suspend) {
      patch.putObject("spec").put("suspend", true);
    }
    return mergePatch(client, jobs, loraJob, job, patch);
  }

  /** Applies {@code patch} to {@code job} and puts the result in the cache. */
  static Job mergePatch(
      KubernetesClient client,
      InformerEventSource<Job, LoraJob> jobs,
      LoraJob loraJob,
      Job job,
      ObjectNode patch) {
    Job updated =
        client
            .batch()
            .v1()
            .jobs()
            .inNamespace(job.getMetadata().getNamespace())
            .withName(job.getMetadata().getName())
            .patch(PatchContext.of(PatchType.JSON_MERGE), ContractJson.toJson(patch));
    jobs.handleRecentResourceUpdate(ResourceID.fromResource(loraJob), updated, job);
    return updated;
  }
}
