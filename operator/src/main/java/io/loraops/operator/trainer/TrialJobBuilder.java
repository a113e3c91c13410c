package io.loraops.operator.trainer;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.PodFailurePolicy;
import io.fabric8.kubernetes.api.model.batch.v1.PodFailurePolicyBuilder;
import io.loraops.contract.ContractJson;
import io.loraops.contract.ExitCodes;
import io.loraops.contract.TrialConfig;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.LoraJobSpec;
import io.loraops.operator.api.v1alpha1.Resources;
import io.loraops.operator.api.v1alpha1.TrainerOverrides;
import io.loraops.operator.config.OperatorSettings;
import io.loraops.operator.support.Labels;
import io.loraops.operator.support.Names;
import io.loraops.operator.sweep.Trial;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Desired state of one trial: its ConfigMap (the trial config, the operator/trainer contract) and
 * its batch/v1 Job. Pure: the same LoraJob, trial and settings always give the same objects.
 *
 * <p>A trial is a plain Job so everything that works on Jobs works unchanged: Kueue admission, pod
 * failure policies, suspend, quotas, {@code kubectl get jobs}.
 */
public final class TrialJobBuilder {

  public static final String CONTAINER = "trainer";
  public static final String CONFIG_DIR = "/etc/loraops";
  public static final String CONFIG_KEY = "trial.json";

  private final OperatorSettings settings;

  public TrialJobBuilder(OperatorSettings settings) {
    this.settings = settings;
  }

  /** The objects of one trial, and the config they carry. */
  public record TrialObjects(ConfigMap configMap, Job job, TrialConfig config) {}

  public TrialObjects build(LoraJob loraJob, Trial trial) {
    String name = Names.trialJob(loraJob, trial.name());
    String namespace = loraJob.getMetadata().getNamespace();
    Map<String, String> labels = Labels.forTrial(loraJob, trial.name());
    OwnerReference owner = ownerReference(loraJob);

    TrialMounts mounts = new TrialMounts();
    TrialConfig config = TrialConfigs.forTrial(loraJob, trial, mounts);

    ConfigMap configMap =
        new ConfigMapBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace(namespace)
            .withLabels(labels)
            .withOwnerReferences(owner)
            .endMetadata()
            .withImmutable(true)
            .addToData(CONFIG_KEY, ContractJson.toPrettyJson(config))
            .build();

    Map<String, String> jobLabels = new LinkedHashMap<>(labels);
    String queue =
        loraJob.getMetadata().getLabels() == null
            ? null
            : loraJob.getMetadata().getLabels().get(Labels.KUEUE_QUEUE_NAME);
    if (queue != null) {
      jobLabels.put(Labels.KUEUE_QUEUE_NAME, queue);
    }

    LoraJobSpec spec = loraJob.getSpec();
    Job job =
        new JobBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace(namespace)
            .withLabels(jobLabels)
            .withOwnerReferences(owner)
            .endMetadata()
            .withNewSpec()
            .withCompletions(1)
            .withParallelism(1)
            .withBackoffLimit(spec.getBackoffLimit())
            .withActiveDeadlineSeconds(spec.getActiveDeadlineSeconds())
            // Kueue admits a Job by unsuspending it, so a queued Job is created suspended.
            .withSuspend(Boolean.TRUE.equals(spec.getSuspend()) || queue != null)
            .withPodFailurePolicy(podFailurePolicy())
            .withNewTemplate()
            .withNewMetadata()
            .withLabels(labels)
            .endMetadata()
            .withSpec(
                podSpec(
                    loraJob, name, List.of("train", CONFIG_DIR + "/" + CONFIG_KEY), mounts, true))
            .endTemplate()
            .endSpec()
            .build();
    return new TrialObjects(configMap, job, config);
  }

  /**
   * Retrying cannot fix a bad config or bad data, so those exit codes fail the trial at once; pods
   * evicted by preemption or node drain do not count against the retry budget.
   */
  static PodFailurePolicy podFailurePolicy() {
    return new PodFailurePolicyBuilder()
        .addNewRule()
        .withAction("FailJob")
        .withNewOnExitCodes()
        .withContainerName(CONTAINER)
        .withOperator("In")
        .withValues(ExitCodes.BAD_CONFIG, ExitCodes.DATA_ERROR)
        .endOnExitCodes()
        .endRule()
        .addNewRule()
        .withAction("Ignore")
        .addNewOnPodCondition()
        .withType("DisruptionTarget")
        .withStatus("True")
        .endOnPodCondition()
        .endRule()
        .build();
  }

  /**
   * The trainer pod: the trainer image run as {@code args}, its config from {@code configMapName}
   * mounted at {@link #CONFIG_DIR}, non-root with a read-only root file system. Trials and the
   * publish Job share it; only trials request GPUs.
   */
  PodSpec podSpec(
      LoraJob loraJob, String configMapName, List<String> args, TrialMounts mounts, boolean gpus) {
    Resources resources = loraJob.getSpec().getResources();
    TrainerOverrides overrides = resources.getTrainer();
    String image =
        overrides != null && overrides.getImage() != null
            ? overrides.getImage()
            : settings.trainerImage();
    String pullPolicy =
        overrides != null && overrides.getImagePullPolicy() != null
            ? overrides.getImagePullPolicy().name()
            : settings.trainerImagePullPolicy();

    return new PodSpecBuilder()
        // The Job controller, not the kubelet, retries: a failed pod stays for inspection.
        .withRestartPolicy("Never")
        .withServiceAccountName(overrides == null ? null : overrides.getServiceAccountName())
        // The trainer never calls the Kubernetes API: no token in the pod.
        .withAutomountServiceAccountToken(false)
        .withNodeSelector(resources.getNodeSelector())
        .withTolerations(resources.getTolerations())
        .withPriorityClassName(resources.getPriorityClassName())
        .withNewSecurityContext()
        .withRunAsNonRoot(true)
        .withRunAsUser(settings.runAsUser())
        .withRunAsGroup(settings.runAsUser())
        .withFsGroup(settings.runAsUser())
        .withNewSeccompProfile()
        .withType("RuntimeDefault")
        .endSeccompProfile()
        .endSecurityContext()
        .addNewContainer()
        .withName(CONTAINER)
        .withImage(image)
        .withImagePullPolicy(pullPolicy)
        .withArgs(args)
        .withEnv(env(resources, overrides))
        .withResources(resourceRequirements(resources, gpus))
        .addNewVolumeMount()
        .withName("trial-config")
        .withMountPath(CONFIG_DIR)
        .withReadOnly(true)
        .endVolumeMount()
        // The root filesystem is read-only; the trainer's scratch space (native library cache,
        // temp files) lives here.
        .addNewVolumeMount()
        .withName("tmp")
        .withMountPath("/tmp")
        .endVolumeMount()
        .addAllToVolumeMounts(mounts.volumeMounts())
        .withTerminationMessagePath(TrialConfig.DEFAULT_TERMINATION_MESSAGE_PATH)
        // A trainer that dies before writing its summary still leaves its last log lines.
        .withTerminationMessagePolicy("FallbackToLogsOnError")
        .withNewSecurityContext()
        .withAllowPrivilegeEscalation(false)
        .withReadOnlyRootFilesystem(true)
        .withRunAsNonRoot(true)
        .withNewCapabilities()
        .withDrop("ALL")
        .endCapabilities()
        .endSecurityContext()
        .endContainer()
        .addNewVolume()
        .withName("trial-config")
        .withNewConfigMap()
        .withName(configMapName)
        .endConfigMap()
        .endVolume()
        .addNewVolume()
        .withName("tmp")
        .withNewEmptyDir()
        .endEmptyDir()
        .endVolume()
        .addAllToVolumes(mounts.volumes())
        .build();
  }

  private static List<EnvVar> env(Resources resources, TrainerOverrides overrides) {
    List<EnvVar> env = new ArrayList<>();
    env.add(new EnvVarBuilder().withName("HOME").withValue("/tmp").build());
    if (resources.getCpu() != null) {
      // The trainer sizes its thread pools from this rather than from the node's core count.
      env.add(
          new EnvVarBuilder()
              .withName("LORA_CPU_LIMIT")
              .withNewValueFrom()
              .withNewResourceFieldRef()
              .withContainerName(CONTAINER)
              .withResource("limits.cpu")
              .withDivisor(new Quantity("1"))
              .endResourceFieldRef()
              .endValueFrom()
              .build());
    }
    if (overrides != null && overrides.getEnv() != null) {
      env.addAll(overrides.getEnv());
    }
    return env;
  }

  private static ResourceRequirements resourceRequirements(Resources resources, boolean gpus) {
    Map<String, Quantity> amounts = new LinkedHashMap<>();
    if (resources.getCpu() != null) {
      amounts.put("cpu", new Quantity(resources.getCpu()));
    }
    if (resources.getMemory() != null) {
      amounts.put("memory", new Quantity(resources.getMemory()));
    }
    if (gpus && resources.getGpus() != null && resources.getGpus() > 0) {
      amounts.put(resources.getGpuResourceName(), new Quantity(resources.getGpus().toString()));
    }
    // Requests equal limits: a trial's throughput should not depend on its neighbours, and
    // extended resources such as GPUs must be requested exactly as limited anyway.
    return new ResourceRequirementsBuilder().withRequests(amounts).withLimits(amounts).build();
  }

  static OwnerReference ownerReference(LoraJob loraJob) {
    return new OwnerReferenceBuilder()
        .withApiVersion(loraJob.getApiVersion())
        .withKind(loraJob.getKind())
        .withName(loraJob.getMetadata().getName())
        .withUid(loraJob.getMetadata().getUid())
        .withController(true)
        .withBlockOwnerDeletion(true)
        .build();
  }
}
