package io.loraops.operator.it;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.support.Labels;
import java.util.List;

/** What a test does to a LoraJob, as a user would with kubectl. */
final class LoraJobs {
  private LoraJobs() {}

  static LoraJob get(KubernetesClient client, String namespace, String name) {
    return client.resources(LoraJob.class).inNamespace(namespace).withName(name).get();
  }

  /** As `kubectl patch lj NAME --type=merge -p '{"spec":{"suspend":...}}'` does. */
  static void suspend(KubernetesClient client, String namespace, String name, boolean suspend) {
    client
        .resources(LoraJob.class)
        .inNamespace(namespace)
        .withName(name)
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"suspend\":" + suspend + "}}");
  }

  /**
   * Every trial Job in {@code namespace}, as `kubectl get jobs -l loraops.io/trial` lists them (the
   * publish Job is not one).
   */
  static List<Job> trialJobs(KubernetesClient client, String namespace) {
    return client
        .batch()
        .v1()
        .jobs()
        .inNamespace(namespace)
        .withLabelSelector(Labels.TRIAL_SELECTOR)
        .list()
        .getItems();
  }
}
