package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobStatus;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Bad input is refused by the API server at apply time, with a message that names the field. */
class SchemaValidationIT {

  static final String VALID = Manifests.sweep("valid", "4, 8", 1, 1);

  KubernetesClient client = ControlPlane.client();
  String namespace = ControlPlane.newNamespace("schema");

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          rank 0                | 'training: {maxSteps: 20, sequenceLength: 64}' | 'training: {maxSteps: 20, sequenceLength: 64}\\n  lora: {rank: 0}' | spec.lora.rank
          dropout 1             | 'training: {maxSteps: 20, sequenceLength: 64}' | 'training: {maxSteps: 20, sequenceLength: 64}\\n  lora: {dropout: 1.0}' | spec.lora.dropout
          no epochs or steps    | 'training: {maxSteps: 20, sequenceLength: 64}' | 'training: {sequenceLength: 64}' | set training.epochs or training.maxSteps
          warmup past the end   | 'training: {maxSteps: 20, sequenceLength: 64}' | 'training: {maxSteps: 20, warmupSteps: 20}' | warmupSteps must be smaller than training.maxSteps
          learning rate 2       | 'training: {maxSteps: 20, sequenceLength: 64}' | 'training: {maxSteps: 20, learningRate: 2}' | spec.training.learningRate
          duplicate ranks       | 'rank: [4, 8]'                                 | 'rank: [4, 4]'                 | sweep.rank values must be unique
          empty rank list       | 'rank: [4, 8]'                                 | 'rank: []'                     | spec.sweep.rank
          rank out of range     | 'rank: [4, 8]'                                 | 'rank: [4, 2048]'              | sweep.rank values must be in 1..1024
          parallelism 0         | 'parallelism: 1'                               | 'parallelism: 0'               | spec.sweep.parallelism
          alpha and per-rank    | 'alphaPerRank: 2'                              | 'alphaPerRank: 2\\n    alpha: [16]' | set sweep.alpha or sweep.alphaPerRank, not both
          unknown strategy      | 'parallelism: 1'                               | 'parallelism: 1\\n    strategy: Bayesian' | spec.sweep.strategy
          s3 output             | 'pvc://adapters'                               | 's3://bucket/adapters'         | s3:// is not supported yet
          bad adapter name      | 'adapter: support-bot'                         | 'adapter: Support_Bot'         | spec.adapter
          no base model         | 'baseModel: {name: tiny-gpt2, uri: "pvc://models/tiny-gpt2"}' | '' | spec.baseModel
          duplicate modules     | 'training: {maxSteps: 20, sequenceLength: 64}' | 'training: {maxSteps: 20}\\n  lora: {targetModules: [q_proj, q_proj]}' | must not repeat a module
          unknown format        | 'format: text'                                 | 'format: csv'                  | spec.dataset.format
          long name             | 'name: valid'                                  | 'name: a-name-that-is-far-too-long-to-prefix-its-trial-job-names' | at most 52 characters
          stopping, no evals    | 'parallelism: 1'                               | 'parallelism: 1\n    earlyStopping: {rule: Median, minSteps: 5}' | set training.evalEverySteps
          stopping past the end | 'parallelism: 1'                               | 'parallelism: 1\n    earlyStopping: {rule: Median, minSteps: 20}' | sweep.earlyStopping.minSteps must be smaller than training.maxSteps
          unknown stopping rule | 'parallelism: 1'                               | 'parallelism: 1\n    earlyStopping: {rule: Asha, minSteps: 5}' | spec.sweep.earlyStopping.rule
          stopping, no minSteps | 'parallelism: 1'                               | 'parallelism: 1\n    earlyStopping: {rule: Median}' | spec.sweep.earlyStopping.minSteps
          """)
  void invalidLoraJobIsRefusedNamingTheField(
      String what, String find, String replace, String expected) {
    String manifest = VALID.replace(find, replace.replace("\\n", "\n"));
    assertThat(manifest).as("fixture edit applies").isNotEqualTo(VALID);

    // Sent as untyped YAML, as kubectl would: the typed model could not even hold some of these.
    GenericKubernetesResource raw =
        Serialization.unmarshal(manifest, GenericKubernetesResource.class);
    raw.getMetadata().setNamespace(namespace);
    assertThatThrownBy(() -> client.resource(raw).create())
        .isInstanceOf(KubernetesClientException.class)
        .hasMessageContaining(expected);
  }

  static final String VALID_ASHA =
      VALID
          .replace(
              "training: {maxSteps: 20, sequenceLength: 64}",
              "training: {maxSteps: 90, evalEverySteps: 10, sequenceLength: 64}")
          .replace(
              "parallelism: 1", "parallelism: 1\n    earlyStopping: {rule: ASHA, minSteps: 10}");

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          eta 1                   | 'minSteps: 10}'            | 'minSteps: 10, reductionFactor: 1}' | spec.sweep.earlyStopping.reductionFactor
          minTrials with ASHA     | 'minSteps: 10}'            | 'minSteps: 10, minTrials: 2}'       | sweep.earlyStopping.minTrials applies to rule Median only
          eta with Median         | 'rule: ASHA, minSteps: 10}' | 'rule: Median, minSteps: 10, reductionFactor: 3}' | sweep.earlyStopping.reductionFactor applies to rule ASHA only
          no maxSteps             | 'maxSteps: 90,'            | 'epochs: 1,'                        | rule ASHA lays its rungs out up to training.maxSteps
          rungs between evals     | 'evalEverySteps: 10'       | 'evalEverySteps: 4'                 | minSteps must be a multiple of training.evalEverySteps
          first rung at the end   | 'minSteps: 10}'            | 'minSteps: 90}'                     | sweep.earlyStopping.minSteps must be smaller than training.maxSteps
          """)
  void invalidAshaIsRefusedNamingTheField(
      String what, String find, String replace, String expected) {
    String manifest = VALID_ASHA.replace(find, replace);
    assertThat(manifest).as("fixture edit applies").isNotEqualTo(VALID_ASHA);
    GenericKubernetesResource raw =
        Serialization.unmarshal(manifest, GenericKubernetesResource.class);
    raw.getMetadata().setNamespace(namespace);
    assertThatThrownBy(() -> client.resource(raw).create())
        .isInstanceOf(KubernetesClientException.class)
        .hasMessageContaining(expected);
  }

  @Test
  void validAshaIsAccepted() {
    LoraJob created = client.resource(Manifests.loraJob(VALID_ASHA, namespace)).create();
    assertThat(created.getSpec().getSweep().getEarlyStopping().reductionFactorOrDefault())
        .isEqualTo(3);
    LoraJob evalEvery5 =
        Manifests.loraJob(
            VALID_ASHA.replace("evalEverySteps: 10", "evalEverySteps: 5").replace("valid", "v5"),
            namespace);
    assertThat(client.resource(evalEvery5).create()).isNotNull();
  }

  @Test
  void validLoraJobIsAccepted() {
    LoraJob created = client.resource(Manifests.loraJob(VALID, namespace)).create();
    assertThat(created.getSpec().getSweep().getRank()).containsExactly(4, 8);
  }

  @Test
  void invalidAdapterVersionIsRefused() {
    LoraAdapter adapter =
        Serialization.unmarshal(
            """
        apiVersion: loraops.io/v1alpha1
        kind: LoraAdapter
        metadata: {name: support-bot}
        spec:
          baseModel: {name: tiny-gpt2}
          version: newest
        """,
            LoraAdapter.class);
    adapter.getMetadata().setNamespace(namespace);
    assertThatThrownBy(() -> client.resource(adapter).create())
        .hasMessageContaining("version must be a version number (1, 2, ...) or latest");
  }

  @Test
  void trialShapingFieldsAreImmutableOnceTrialsExistButParallelismIsNot() {
    LoraJob job =
        client
            .resource(Manifests.loraJob(VALID.replace("name: valid", "name: frozen"), namespace))
            .create();
    LoraJobStatus status = new LoraJobStatus();
    TrialStatus trial = new TrialStatus();
    trial.setName("t000");
    status.setTrials(List.of(trial));
    job.setStatus(status);
    job = client.resource(job).updateStatus();

    LoraJob rankChange = Serialization.clone(job);
    rankChange.getSpec().getLora().setRank(64);
    assertThatThrownBy(() -> client.resource(rankChange).update())
        .hasMessageContaining("cannot change once trials exist");

    LoraJob parallelismChange = Serialization.clone(job);
    parallelismChange.getSpec().getSweep().setParallelism(4);
    assertThat(client.resource(parallelismChange).update().getSpec().getSweep().getParallelism())
        .isEqualTo(4);
  }
}
