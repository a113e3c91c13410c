package io.loraops.operator.it;

import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;

/** LoraJob and LoraAdapter manifests for tests, written as a user would write them. */
final class Manifests {
  private Manifests() {}

  static String sweep(String name, String ranks, int parallelism, int backoffLimit) {
    return """
        apiVersion: loraops.io/v1alpha1
        kind: LoraJob
        metadata:
          name: %s
        spec:
          adapter: support-bot
          baseModel: {name: tiny-gpt2, uri: "pvc://models/tiny-gpt2"}
          dataset: {uri: "pvc://data/train.jsonl", format: text}
          training: {maxSteps: 20, sequenceLength: 64}
          output: {uri: "pvc://adapters"}
          resources: {gpus: 1}
          backoffLimit: %d
          sweep:
            rank: [%s]
            alphaPerRank: 2
            parallelism: %d
        """
        .formatted(name, backoffLimit, ranks, parallelism);
  }

  static LoraAdapter loraAdapter(String yaml, String namespace) {
    LoraAdapter adapter = Serialization.unmarshal(yaml, LoraAdapter.class);
    adapter.getMetadata().setNamespace(namespace);
    return adapter;
  }

  static LoraJob loraJob(String yaml, String namespace) {
    LoraJob job = Serialization.unmarshal(yaml, LoraJob.class);
    job.getMetadata().setNamespace(namespace);
    return job;
  }
}
