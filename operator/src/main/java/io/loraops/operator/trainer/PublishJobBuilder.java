package io.loraops.operator.trainer;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.loraops.contract.ContractJson;
import io.loraops.contract.PublishConfig;
import io.loraops.contract.TrialConfig;
import io.loraops.contract.TrialSummary;
import io.loraops.contract.VersionManifest;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.Objective;
import io.loraops.operator.api.v1alpha1.TrialMetrics;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import io.loraops.operator.config.OperatorSettings;
import io.loraops.operator.status.BestTrialSelector;
import io.loraops.operator.status.TrialPhase;
import io.loraops.operator.support.Labels;
import io.loraops.operator.support.Names;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * Desired state of a LoraJob's publish Job: a Job of the trainer image running {@code lora-trainer
 * publish} (the operator never writes to volumes), and the ConfigMap with its {@link
 * PublishConfig}. Pure: the same LoraJob, trials and claimed version always give the same objects,
 * so a re-created Job (after a restart, or deleted by hand to retry) does exactly the same work.
 *
 * <p>Rank analysis runs in this same Job rather than a second one: it reads the adapter the Job has
 * just copied and the other trials' folders on the same volume, it is seconds of CPU next to the
 * pod's start, and its files belong inside the version folder, which the Job creates whole (one
 * rename) so a version folder never lacks them.
 */
public final class PublishJobBuilder {

  public static final String CONFIG_KEY = "publish.json";

  /** k of the rank analysis: the best trial's top directions other ranks are asked to capture. */
  public static final int TOP_DIRECTIONS = 4;

  /** The share of those directions that makes a rank sufficient. */
  public static final double CAPTURE_THRESHOLD = 0.9;

  /**
   * Retries of the publish pod (a copy is cheap; a bad config or a changed folder fails at once).
   */
  static final int BACKOFF_LIMIT = 2;

  private final TrialJobBuilder pods;

  public PublishJobBuilder(OperatorSettings settings) {
    this.pods = new TrialJobBuilder(settings);
  }

  /** The objects of the publish Job, and the config they carry. */
  public record PublishObjects(ConfigMap configMap, Job job, PublishConfig config) {}

  /**
   * @param best the trial being published
   * @param trials every trial of the sweep (the rank analysis compares the best of each rank)
   * @param claimed the version as claimed in its record
   */
  public PublishObjects build(
      LoraJob loraJob, TrialStatus best, List<TrialStatus> trials, AdapterVersion claimed) {
    String name = Names.publishJob(loraJob);
    String namespace = loraJob.getMetadata().getNamespace();
    Map<String, String> labels = Labels.forPublish(loraJob);
    TrialMounts mounts = new TrialMounts();
    PublishConfig config = config(loraJob, best, trials, claimed, mounts);

    ConfigMap configMap =
        new ConfigMapBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace(namespace)
            .withLabels(labels)
            .withOwnerReferences(TrialJobBuilder.ownerReference(loraJob))
            .endMetadata()
            .withImmutable(true)
            .addToData(CONFIG_KEY, ContractJson.toPrettyJson(config))
            .build();
    Job job =
        new JobBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace(namespace)
            .withLabels(labels)
            .withOwnerReferences(TrialJobBuilder.ownerReference(loraJob))
            .endMetadata()
            .withNewSpec()
            .withCompletions(1)
            .withParallelism(1)
            .withBackoffLimit(BACKOFF_LIMIT)
            .withPodFailurePolicy(TrialJobBuilder.podFailurePolicy())
            .withNewTemplate()
            .withNewMetadata()
            .withLabels(labels)
            .endMetadata()
            .withSpec(
                pods.podSpec(
                    loraJob,
                    name,
                    List.of("publish", TrialJobBuilder.CONFIG_DIR + "/" + CONFIG_KEY),
                    mounts,
                    false))
            .endTemplate()
            .endSpec()
            .build();
    return new PublishObjects(configMap, job, config);
  }

  static PublishConfig config(
      LoraJob loraJob,
      TrialStatus best,
      List<TrialStatus> trials,
      AdapterVersion claimed,
      TrialMounts mounts) {
    String outputRoot = mounts.localPath(loraJob.getSpec().getOutput().getUri(), "output", true);
    String versionPath = outputRoot + "/" + TrialConfigs.versionPath(loraJob, claimed.getVersion());
    List<TrialStatus> others = otherRanks(loraJob, best, trials);
    PublishConfig.RankAnalysis rankAnalysis =
        others.isEmpty()
            ? null
            : new PublishConfig.RankAnalysis(
                TOP_DIRECTIONS,
                CAPTURE_THRESHOLD,
                others.stream()
                    .map(
                        t ->
                            new PublishConfig.Candidate(
                                t.getName(),
                                t.getParameters().getRank(),
                                outputRoot + "/" + TrialConfigs.outputPath(loraJob, t.getName())))
                    .toList());
    PublishConfig.Merged merged =
        Boolean.TRUE.equals(loraJob.getSpec().getOutput().getMerged())
            ? new PublishConfig.Merged(
                mounts.localPath(loraJob.getSpec().getBaseModel().getUri(), "model", false),
                versionPath + "/merged")
            : null;
    return new PublishConfig(
        TrialConfig.CURRENT_VERSION,
        outputRoot + "/" + TrialConfigs.outputPath(loraJob, best.getName()),
        best.getDigest(),
        versionPath,
        manifest(loraJob, best, claimed),
        rankAnalysis,
        merged,
        TrialConfig.DEFAULT_TERMINATION_MESSAGE_PATH);
  }

  /**
   * The best succeeded trial of each rank other than the best trial's, by rank: what the rank
   * analysis compares the best trial with. Empty when the sweep had a single rank.
   */
  public static List<TrialStatus> otherRanks(
      LoraJob loraJob, TrialStatus best, List<TrialStatus> trials) {
    Objective objective =
        loraJob.getSpec().getSweep() == null
            ? new Objective()
            : loraJob.getSpec().getSweep().getObjective();
    Map<Integer, List<TrialStatus>> byRank =
        trials.stream()
            .filter(t -> TrialPhase.SUCCEEDED.equals(t.getPhase()))
            .filter(
                t -> !Objects.equals(t.getParameters().getRank(), best.getParameters().getRank()))
            .collect(Collectors.groupingBy(t -> t.getParameters().getRank()));
    List<TrialStatus> others = new ArrayList<>();
    byRank.values().forEach(ts -> BestTrialSelector.select(ts, objective).ifPresent(others::add));
    others.sort(Comparator.comparing(t -> t.getParameters().getRank()));
    return others;
  }

  static VersionManifest manifest(LoraJob loraJob, TrialStatus best, AdapterVersion claimed) {
    TrialMetrics m = best.getMetrics();
    return new VersionManifest(
        loraJob.getSpec().getAdapter(),
        claimed.getVersion(),
        null,
        null,
        new VersionManifest.BaseModel(
            claimed.getBaseModel().getName(), claimed.getBaseModel().getRevision()),
        claimed.getRank(),
        claimed.getAlpha(),
        claimed.getTargetModules(),
        m == null
            ? null
            : new TrialSummary.Metrics(
                m.getTrainLoss(),
                m.getEvalLoss(),
                null,
                m.getPerplexity(),
                m.getSteps(),
                m.getTokensPerSecond(),
                m.getTrainableParameters(),
                m.getAdapterBytes(),
                m.getDurationSeconds()),
        new VersionManifest.Source(
            loraJob.getMetadata().getName(),
            loraJob.getMetadata().getUid(),
            best.getName(),
            best.getArtifactUri()),
        claimed.getCreatedAt(),
        null,
        null);
  }
}
