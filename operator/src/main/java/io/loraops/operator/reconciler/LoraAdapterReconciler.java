package io.loraops.operator.reconciler;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterStatus;
import io.loraops.operator.api.v1alpha1.SecretKeyRef;
import io.loraops.operator.api.v1alpha1.Serving;
import io.loraops.operator.api.v1alpha1.ServingTarget;
import io.loraops.operator.api.v1alpha1.TargetStatus;
import io.loraops.operator.metrics.LoraMetrics;
import io.loraops.operator.publish.VersionRecords;
import io.loraops.operator.rollout.ApiKeys;
import io.loraops.operator.rollout.HotLoadRollout;
import io.loraops.operator.rollout.HttpInferenceServer;
import io.loraops.operator.rollout.InferenceServer;
import io.loraops.operator.rollout.Loader;
import io.loraops.operator.rollout.QuietServers;
import io.loraops.operator.rollout.RestartRollout;
import io.loraops.operator.rollout.RolloutEvents;
import io.loraops.operator.rollout.RolloutPlanner;
import io.loraops.operator.rollout.RolloutSteps;
import io.loraops.operator.rollout.Selectors;
import io.loraops.operator.rollout.ServingTargets.Target;
import io.loraops.operator.rollout.Withdrawal;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.status.LoraAdapterStatusCalculator;
import io.loraops.operator.status.LoraAdapterStatusCalculator.ServingResult;
import io.loraops.operator.support.EventRecorder;
import io.loraops.operator.support.Labels;
import io.quarkiverse.operatorsdk.annotations.RBACRule;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Keeps a LoraAdapter's status (its version history and which version is wanted) in step with its
 * version records, and rolls the wanted version out to the serving targets: hot-loaded through the
 * servers' adapter API, or written into the pod templates for a rolling restart.
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
@RBACRule(
    apiGroups = "apps",
    resources = "deployments",
    verbs = {"get", "list", "watch", "patch", "update"})
@RBACRule(
    apiGroups = "",
    resources = "pods",
    verbs = {"get", "list", "watch"})
@RBACRule(
    apiGroups = "",
    resources = "secrets",
    verbs = {"get"})
public class LoraAdapterReconciler implements Reconciler<LoraAdapter>, Cleaner<LoraAdapter> {

  public static final String NAME = "loraadapter";

  /** How often a served adapter is looked at without events: catches server restarts in place. */
  static final Duration RESYNC = Duration.ofSeconds(30);

  /** When to try again after a server could not be reached or a Secret could not be read. */
  static final Duration RETRY = Duration.ofSeconds(10);

  /** How long a deleted LoraAdapter waits for its servers to unload it before it goes anyway. */
  static final Duration WITHDRAW_GRACE = Duration.ofSeconds(60);

  private final Clock clock;
  private final LoraMetrics metrics;
  private final InferenceServer server;
  private InformerEventSource<Deployment, LoraAdapter> deployments;

  public LoraAdapterReconciler(Clock clock, LoraMetrics metrics) {
    this.clock = clock;
    this.metrics = metrics;
    // A server that gave no answer is not waited for again by every reconcile for 30 s.
    this.server =
        new QuietServers(
            new HttpInferenceServer(Duration.ofSeconds(60)),
            Duration.ofSeconds(30),
            clock::instant);
  }

  @Override
  public List<EventSource<?, LoraAdapter>> prepareEventSources(
      EventSourceContext<LoraAdapter> context) {
    var records =
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
            context);
    // Deployment status moves whenever a target's pods become ready or go away, which is when a
    // pod may need the serving version loaded: so Deployments are the event source, not Pods.
    deployments =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Deployment.class, LoraAdapter.class)
                .withName("serving-targets")
                .withSecondaryToPrimaryMapper(
                    deployment ->
                        context
                            .getPrimaryCache()
                            .list(
                                deployment.getMetadata().getNamespace(),
                                adapter -> targets(adapter, deployment))
                            .map(ResourceID::fromResource)
                            .collect(Collectors.toSet()))
                .build(),
            context);
    return List.of(records, deployments);
  }

  private static boolean targets(LoraAdapter adapter, Deployment deployment) {
    Serving serving = adapter.getSpec().getServing();
    return serving != null
        && Selectors.targets(
            serving.getTargets(),
            deployment.getMetadata().getName(),
            deployment.getMetadata().getLabels());
  }

  @Override
  public UpdateControl<LoraAdapter> reconcile(LoraAdapter adapter, Context<LoraAdapter> context) {
    Instant now = clock.instant();
    List<AdapterVersion> versions =
        context.getSecondaryResources(ConfigMap.class).stream()
            .flatMap(record -> VersionRecords.parse(record).stream())
            .toList();
    LoraAdapterStatus previous = adapter.getStatus();
    LoraAdapterStatus status = LoraAdapterStatusCalculator.compute(adapter, versions, now);
    Duration requeue = null;
    Serving serving = adapter.getSpec().getServing();
    Servers servers = servers(adapter, context.getClient());
    Set<String> targetNames = targetNames(adapter);
    if (serving != null) {
      Optional<String> notPromoted = notPromoted(adapter, versions, status);
      Loader.Outcome outcome =
          rollOut(adapter, context, versions, status, notPromoted, servers, targetNames, now);
      status =
          LoraAdapterStatusCalculator.compute(
              adapter,
              versions,
              new ServingResult(
                  outcome.serving(),
                  outcome.rollout(),
                  outcome.targets(),
                  outcome.problems(),
                  notPromoted),
              now);
      requeue = outcome.requeue() == null ? RESYNC : outcome.requeue();
      recordRollout(adapter, context.getClient(), previous, status, now);
    }
    List<TargetStatus> withdrawing =
        withdraw(
            adapter,
            context.getClient(),
            Withdrawal.dropped(previous == null ? null : previous.getTargets(), targetNames),
            servers);
    if (!withdrawing.isEmpty()) {
      List<TargetStatus> targets = new ArrayList<>(status.getTargets());
      targets.addAll(withdrawing);
      status.setTargets(targets);
      requeue = requeue == null || requeue.compareTo(RETRY) > 0 ? RETRY : requeue;
    }

    if (Objects.equals(previous, status)) {
      UpdateControl<LoraAdapter> none = UpdateControl.noUpdate();
      return requeue == null ? none : none.rescheduleAfter(requeue);
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
    UpdateControl<LoraAdapter> patch = StatusPatch.of(adapter, status, LoraAdapter::new);
    return requeue == null ? patch : patch.rescheduleAfter(requeue);
  }

  private Loader.Outcome rollOut(
      LoraAdapter adapter,
      Context<LoraAdapter> context,
      List<AdapterVersion> versions,
      LoraAdapterStatus computed,
      Optional<String> notPromoted,
      Servers servers,
      Set<String> targetNames,
      Instant now) {
    Serving serving = adapter.getSpec().getServing();
    LoraAdapterStatus previous = adapter.getStatus();
    Integer servingVersion = previous == null ? null : previous.getServingVersion();
    if (servers.problem() != null) {
      // Every call would be refused: hold the rollout where it is until the key can be read.
      return new Loader.Outcome(
          servingVersion,
          previous == null ? null : previous.getRollout(),
          previous == null || previous.getTargets() == null
              ? List.of()
              : previous.getTargets().stream()
                  .filter(t -> targetNames.contains(t.getDeployment()))
                  .toList(),
          List.of(servers.problem()),
          RETRY);
    }
    Map<Integer, AdapterVersion> byNumber = new TreeMap<>(Comparator.reverseOrder());
    versions.forEach(v -> byNumber.put(v.getVersion(), v));
    var rollout =
        RolloutPlanner.next(
            previous == null ? null : previous.getRollout(),
            servingVersion,
            computed.getDesiredVersion(),
            adapter.getMetadata().getGeneration(),
            notPromoted,
            RolloutSteps.normalize(serving.getRollout().getSteps()).size(),
            now);
    var request =
        new Loader.Request(
            adapter.getMetadata().getName(),
            servingVersion,
            rollout,
            serving.getRollout(),
            byNumber,
            serving.getPort(),
            serving.getContainer(),
            now);
    InferenceServer client = servers.client();
    List<Target> targets = observeTargets(adapter, context.getClient());
    Loader loader =
        serving.getLoader() == Serving.Loader.restart
            ? new RestartRollout(context.getClient(), client)
            : new HotLoadRollout(client);
    Loader.Outcome outcome = loader.run(request, targets);
    for (TargetStatus target : outcome.targets()) {
      metrics.servingVersion(
          adapter.getMetadata().getNamespace(),
          adapter.getMetadata().getName(),
          target.getDeployment(),
          target.getServingVersion());
    }
    return outcome;
  }

  /** The client for the adapter's servers (with its API key), or why there is none. */
  private record Servers(InferenceServer client, String problem) {}

  /**
   * The API key is read with a GET on each reconcile rather than through an informer: an informer
   * would cache every Secret in the watched namespaces, and RBAC for {@code get} alone is the
   * narrower grant.
   */
  private Servers servers(LoraAdapter adapter, KubernetesClient client) {
    Serving serving = adapter.getSpec().getServing();
    SecretKeyRef ref = serving == null ? null : serving.getApiKeySecretRef();
    if (ref == null) {
      return new Servers(server, null);
    }
    String namespace = adapter.getMetadata().getNamespace();
    Secret secret;
    try {
      secret = client.secrets().inNamespace(namespace).withName(ref.getName()).get();
    } catch (KubernetesClientException e) {
      // e.g. forbidden: the operator's Role lacks "get secrets" in this namespace
      String why = e.getStatus() != null ? e.getStatus().getMessage() : e.getMessage();
      return new Servers(null, "cannot read secret " + ref.getName() + ": " + why);
    }
    ApiKeys.ApiKey key = ApiKeys.from(ref, secret, namespace);
    return key.problem() != null
        ? new Servers(null, key.problem())
        : new Servers(server.withApiKey(key.value()), null);
  }

  /**
   * The names status.targets may hold for spec.serving now: the Deployments it names or matches,
   * and the selectors that match none (their entry carries the problem).
   */
  private Set<String> targetNames(LoraAdapter adapter) {
    Serving serving = adapter.getSpec().getServing();
    if (serving == null) {
      return Set.of();
    }
    Set<String> names = new java.util.HashSet<>();
    for (ServingTarget t : serving.getTargets()) {
      if (t.getDeployment() != null) {
        names.add(t.getDeployment());
      } else {
        names.add(Selectors.describe(t.getSelector()));
      }
    }
    deployments
        .list(adapter.getMetadata().getNamespace(), d -> targets(adapter, d))
        .forEach(d -> names.add(d.getMetadata().getName()));
    return names;
  }

  /**
   * Unloads the adapter from the Deployments of {@code entries} (targets dropped from spec.serving,
   * or every target of a deleted adapter). Returns entries for those not finished yet, with the
   * reason: kept in status, the next reconcile tries them again.
   */
  private List<TargetStatus> withdraw(
      LoraAdapter adapter, KubernetesClient client, List<TargetStatus> entries, Servers servers) {
    List<TargetStatus> remaining = new ArrayList<>();
    for (TargetStatus dropped : entries) {
      List<String> problems =
          withdraw(adapter, client, dropped.getDeployment(), portOf(adapter, dropped), servers);
      if (problems.isEmpty()) {
        metrics.forgetServing(
            adapter.getMetadata().getNamespace(),
            adapter.getMetadata().getName(),
            dropped.getDeployment());
      } else {
        TargetStatus entry = new TargetStatus();
        entry.setDeployment(dropped.getDeployment());
        entry.setPort(dropped.getPort());
        entry.setMessage("no longer a target; unloading the adapter: " + problems.get(0));
        remaining.add(entry);
      }
    }
    return remaining;
  }

  private static int portOf(LoraAdapter adapter, TargetStatus target) {
    if (target != null && target.getPort() != null) {
      return target.getPort();
    }
    Serving serving = adapter.getSpec().getServing();
    return serving == null ? 8000 : serving.getPort();
  }

  /** Unloads the adapter from one Deployment's ready pods; what could not be done. */
  private List<String> withdraw(
      LoraAdapter adapter,
      KubernetesClient client,
      String deploymentName,
      int port,
      Servers servers) {
    String namespace = adapter.getMetadata().getNamespace();
    Optional<Deployment> deployment = deployments.get(new ResourceID(deploymentName, namespace));
    String name = adapter.getMetadata().getName();
    if (deployment.isEmpty() || !Withdrawal.hotLoaded(deployment.get(), name)) {
      return List.of(); // gone, or the restart loader's (left as it is, see Withdrawal)
    }
    if (servers.problem() != null) {
      return List.of(servers.problem());
    }
    List<Pod> pods =
        client
            .pods()
            .inNamespace(namespace)
            .withLabelSelector(deployment.get().getSpec().getSelector())
            .list()
            .getItems();
    return new Withdrawal(servers.client()).withdraw(name, deploymentName, pods, port);
  }

  /**
   * A deleted LoraAdapter is unloaded from the servers it was hot-loaded into before it goes. A
   * server that does not answer holds the deletion for at most {@link #WITHDRAW_GRACE}, then the
   * adapter goes anyway with a Warning event: a finalizer must never wedge a namespace.
   */
  @Override
  public DeleteControl cleanup(LoraAdapter adapter, Context<LoraAdapter> context) {
    // Every target in status, and any spec.serving matches that status has not seen yet.
    List<TargetStatus> entries = new ArrayList<>();
    LoraAdapterStatus status = adapter.getStatus();
    if (status != null && status.getTargets() != null) {
      entries.addAll(status.getTargets());
    }
    Set<String> known =
        entries.stream().map(TargetStatus::getDeployment).collect(Collectors.toSet());
    for (String name : targetNames(adapter)) {
      if (!known.contains(name)) {
        TargetStatus entry = new TargetStatus();
        entry.setDeployment(name);
        entries.add(entry);
      }
    }
    List<String> problems =
        withdraw(adapter, context.getClient(), entries, servers(adapter, context.getClient()))
            .stream()
            .map(TargetStatus::getMessage)
            .toList();
    metrics.forgetServing(adapter.getMetadata().getNamespace(), adapter.getMetadata().getName());
    if (problems.isEmpty()) {
      return DeleteControl.defaultDelete();
    }
    Instant deleted = Instant.parse(adapter.getMetadata().getDeletionTimestamp());
    if (Duration.between(deleted, clock.instant()).compareTo(WITHDRAW_GRACE) < 0) {
      return DeleteControl.noFinalizerRemoval().rescheduleAfter(RETRY);
    }
    EventRecorder.record(
        context.getClient(),
        adapter,
        EventRecorder.WARNING,
        "WithdrawIncomplete",
        "deleted without unloading it everywhere: " + String.join("; ", problems),
        clock.instant());
    return DeleteControl.defaultDelete();
  }

  /** With requireLowerEvalLoss and version latest: why the desired version is held back. */
  private static Optional<String> notPromoted(
      LoraAdapter adapter, List<AdapterVersion> versions, LoraAdapterStatus computed) {
    Serving serving = adapter.getSpec().getServing();
    boolean pinned = adapter.getSpec().getVersion().getIntVal() != null;
    if (serving == null
        || pinned
        || !Boolean.TRUE.equals(serving.getRollout().getRequireLowerEvalLoss())
        || computed.getDesiredVersion() == null) {
      return Optional.empty();
    }
    Integer servingVersion =
        adapter.getStatus() == null ? null : adapter.getStatus().getServingVersion();
    AdapterVersion candidate = find(versions, computed.getDesiredVersion());
    AdapterVersion current = servingVersion == null ? null : find(versions, servingVersion);
    var rollout = adapter.getStatus() == null ? null : adapter.getStatus().getRollout();
    if (rollout != null
        && computed.getDesiredVersion().equals(rollout.getVersion())
        && "Progressing".equals(rollout.getPhase())) {
      return Optional.empty(); // already judged when it started
    }
    return candidate == null ? Optional.empty() : RolloutPlanner.notBetter(candidate, current);
  }

  private static AdapterVersion find(List<AdapterVersion> versions, int number) {
    return versions.stream().filter(v -> v.getVersion() == number).findFirst().orElse(null);
  }

  /** The target Deployments from the informer cache, and their pods. */
  private List<Target> observeTargets(LoraAdapter adapter, KubernetesClient client) {
    String namespace = adapter.getMetadata().getNamespace();
    List<Target> targets = new ArrayList<>();
    for (ServingTarget t : adapter.getSpec().getServing().getTargets()) {
      if (t.getDeployment() != null
          && deployments.get(new ResourceID(t.getDeployment(), namespace)).isEmpty()) {
        targets.add(
            new Target(
                t.getDeployment(),
                null,
                List.of(),
                "deployment " + t.getDeployment() + " not found in namespace " + namespace));
      }
      if (t.getSelector() != null
          && deployments
              .list(namespace, d -> Selectors.matches(t.getSelector(), d.getMetadata().getLabels()))
              .findAny()
              .isEmpty()) {
        String selector = Selectors.describe(t.getSelector());
        targets.add(
            new Target(
                selector,
                null,
                List.of(),
                "selector " + selector + " matches no Deployment in namespace " + namespace));
      }
    }
    deployments
        .list(namespace, d -> targets(adapter, d))
        .sorted(Comparator.comparing(d -> d.getMetadata().getName()))
        .forEach(
            d -> {
              List<Pod> pods =
                  client
                      .pods()
                      .inNamespace(namespace)
                      .withLabelSelector(d.getSpec().getSelector())
                      .list()
                      .getItems();
              targets.add(new Target(d.getMetadata().getName(), d, pods, null));
            });
    return targets;
  }

  private void recordRollout(
      LoraAdapter adapter,
      KubernetesClient client,
      LoraAdapterStatus previous,
      LoraAdapterStatus status,
      Instant now) {
    var before = previous == null ? null : previous.getRollout();
    for (RolloutEvents.Event e : RolloutEvents.between(before, status.getRollout())) {
      EventRecorder.record(client, adapter, e.type(), e.reason(), e.message(), now);
    }
    RolloutEvents.finished(before, status.getRollout())
        .ifPresent(
            f ->
                metrics.rolloutFinished(
                    adapter.getMetadata().getNamespace(),
                    adapter.getMetadata().getName(),
                    f.result(),
                    f.took()));
  }
}
