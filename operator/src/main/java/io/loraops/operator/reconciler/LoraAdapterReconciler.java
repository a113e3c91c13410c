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
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import io.loraops.operator.api.v1alpha1.AdapterVersion;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraAdapterStatus;
import io.loraops.operator.api.v1alpha1.RolloutStatus;
import io.loraops.operator.api.v1alpha1.SecretKeyRef;
import io.loraops.operator.api.v1alpha1.Serving;
import io.loraops.operator.api.v1alpha1.ServingTarget;
import io.loraops.operator.api.v1alpha1.TargetStatus;
import io.loraops.operator.metrics.LoraMetrics;
import io.loraops.operator.publish.VersionRecords;
import io.loraops.operator.rollout.ApiKeys;
import io.loraops.operator.rollout.BoundedServers;
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
import io.loraops.operator.rollout.ServerWork;
import io.loraops.operator.rollout.ServingTargets.Target;
import io.loraops.operator.rollout.Withdrawal;
import io.loraops.operator.status.Conditions;
import io.loraops.operator.status.LoraAdapterStatusCalculator;
import io.loraops.operator.status.LoraAdapterStatusCalculator.ServingResult;
import io.loraops.operator.status.Reasons;
import io.loraops.operator.status.ReconcileErrors;
import io.loraops.operator.support.EventRecorder;
import io.loraops.operator.support.Labels;
import io.loraops.operator.support.LeanCache;
import io.quarkiverse.operatorsdk.annotations.RBACRule;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
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
// A failing reconcile is retried for as long as it fails and shown in status (ErrorStatus).
@GradualRetry(maxAttempts = -1, maxInterval = ReconcileErrors.MAX_RETRY_INTERVAL_SECONDS * 1000)
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
  private final EventRecorder events;
  private final InferenceServer server;
  private final ServerWork<LoraAdapter, ServerResult> work;
  private InformerEventSource<Deployment, LoraAdapter> deployments;

  public LoraAdapterReconciler(Clock clock, LoraMetrics metrics, EventRecorder events) {
    this.clock = clock;
    this.metrics = metrics;
    this.events = events;
    // At most two calls at a time to one server, waiting at most a load's timeout for a turn; and
    // a server that gave no answer is not waited for again by every adapter's work for 30 s.
    this.server =
        new BoundedServers(
            new QuietServers(
                new HttpInferenceServer(Duration.ofSeconds(60)),
                Duration.ofSeconds(30),
                clock::instant),
            2,
            Duration.ofSeconds(60));
    this.work = new ServerWork<>(clock::instant);
  }

  @Override
  public List<EventSource<?, LoraAdapter>> prepareEventSources(
      EventSourceContext<LoraAdapter> context) {
    var records =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(ConfigMap.class, LoraAdapter.class)
                .withName("version-records")
                .withLabelSelector(Labels.VERSION_RECORD_SELECTOR)
                .withItemStore(LeanCache.<ConfigMap>withoutManagedFields())
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
                .withItemStore(LeanCache.<Deployment>withoutManagedFields())
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
    return List.of(records, deployments, work.events());
  }

  private static boolean targets(LoraAdapter adapter, Deployment deployment) {
    Serving serving = adapter.getSpec().getServing();
    return serving != null
        && Selectors.targets(
            serving.getTargets(),
            deployment.getMetadata().getName(),
            deployment.getMetadata().getLabels());
  }

  /**
   * What one piece of server work did: the loader's outcome (null when it only unloaded), the
   * dropped targets it unloaded the adapter from, and those it could not (deployment -> why).
   */
  record ServerResult(
      Loader.Outcome outcome, Set<String> withdrawn, Map<String, String> withdrawProblems) {}

  /** What a reconcile reads: version records, the API key, target and dropped Deployments. */
  private record Observed(
      List<AdapterVersion> versions,
      Servers servers,
      Set<String> targetNames,
      List<Target> targets,
      List<TargetStatus> dropped) {}

  /**
   * The serving state as last learned from the servers: the newest finished work's outcome, or
   * (before any work has finished since the operator started) what status recorded.
   */
  private record Known(
      boolean fromServers,
      Integer serving,
      RolloutStatus rollout,
      List<TargetStatus> targets,
      List<String> problems,
      ServerResult result,
      Duration lookAgain) {}

  /**
   * The server work that would take serving further, and the inputs it depends on: a change in them
   * makes new work due at once.
   */
  private record Plan(Loader.Request request, Loader loader, Inputs inputs) {}

  /** The inputs of a piece of server work, compared between reconciles (never the clock). */
  private record Inputs(
      List<Object> rollout,
      Integer serving,
      List<AdapterVersion> versions,
      Serving spec,
      List<String> targets,
      List<String> dropped,
      int apiKey) {}

  /** A reconcile that keeps failing shows as Synced False ReconcileError (ErrorStatus). */
  @Override
  public ErrorStatusUpdateControl<LoraAdapter> updateErrorStatus(
      LoraAdapter adapter, Context<LoraAdapter> context, Exception error) {
    return ErrorStatus.show(
        adapter,
        context,
        events,
        error,
        clock.instant(),
        LoraAdapterStatus::new,
        LoraAdapterStatus::getConditions,
        LoraAdapterStatus::setConditions,
        LoraAdapter::new);
  }

  @Override
  public UpdateControl<LoraAdapter> reconcile(LoraAdapter adapter, Context<LoraAdapter> context) {
    Instant now = clock.instant();
    ResourceID id = ResourceID.fromResource(adapter);
    // Observe: records, targets and pods from the caches; what the last server work found.
    Observed observed = observe(adapter, context);
    Known known = known(adapter, observed, work.last(id));
    // Decide: the rollout to run and the work that runs it.
    Optional<String> notPromoted = notPromoted(adapter, observed.versions(), known, now);
    Plan plan = plan(adapter, context.getClient(), observed, known, notPromoted, now);
    // Act: start that work on a worker thread when due; a reconcile never waits for a server.
    Duration lookAgain = act(id, adapter, context.getClient(), observed, known, plan, now);
    // Status: from what is known, with Events for what changed.
    if (!known.fromServers()
        && adapter.getStatus() != null
        && observed.servers().problem() == null
        && (adapter.getSpec().getServing() != null || !observed.dropped().isEmpty())) {
      // Nothing learned from the servers since the operator started: status stays as recorded
      // until the work started here reports (its end reconciles again).
      return rescheduled(UpdateControl.noUpdate(), lookAgain);
    }
    LoraAdapterStatus status = status(adapter, observed, known, notPromoted, now);
    return record(adapter, context.getClient(), status, lookAgain, now);
  }

  private Observed observe(LoraAdapter adapter, Context<LoraAdapter> context) {
    List<AdapterVersion> versions =
        context.getSecondaryResources(ConfigMap.class).stream()
            .flatMap(record -> VersionRecords.parse(record).stream())
            .sorted(Comparator.comparing(AdapterVersion::getVersion))
            .toList();
    Set<String> targetNames = targetNames(adapter);
    LoraAdapterStatus previous = adapter.getStatus();
    return new Observed(
        versions,
        servers(adapter, context.getClient()),
        targetNames,
        adapter.getSpec().getServing() == null
            ? List.of()
            : observeTargets(adapter, context.getClient()),
        Withdrawal.dropped(previous == null ? null : previous.getTargets(), targetNames));
  }

  private static Known known(
      LoraAdapter adapter, Observed observed, Optional<ServerWork.Finished<ServerResult>> last) {
    LoraAdapterStatus previous = adapter.getStatus();
    ServerResult result = last.map(ServerWork.Finished::result).orElse(null);
    List<String> problems = new ArrayList<>();
    last.map(ServerWork.Finished::failure)
        .ifPresent(failure -> problems.add("server work failed: " + failure));
    Duration lookAgain = last.isPresent() && last.get().failure() != null ? RETRY : RESYNC;
    if (observed.servers().problem() != null) {
      // Every call would be refused: the rollout holds where it is until the key can be read.
      problems.add(observed.servers().problem());
      lookAgain = RETRY;
    }
    Loader.Outcome outcome = result == null ? null : result.outcome();
    if (outcome == null) {
      return new Known(
          result != null,
          previous == null ? null : previous.getServingVersion(),
          previous == null ? null : previous.getRollout(),
          currentTargets(previous == null ? null : previous.getTargets(), observed),
          problems,
          result,
          lookAgain);
    }
    if (observed.servers().problem() == null) {
      problems.addAll(outcome.problems());
      if (outcome.requeue() != null) {
        lookAgain = outcome.requeue();
      }
    }
    return new Known(
        true,
        outcome.serving(),
        outcome.rollout(),
        currentTargets(outcome.targets(), observed),
        problems,
        result,
        lookAgain);
  }

  /** The entries of {@code targets} for Deployments that are still targets. */
  private static List<TargetStatus> currentTargets(List<TargetStatus> targets, Observed observed) {
    return targets == null
        ? List.of()
        : targets.stream().filter(t -> observed.targetNames().contains(t.getDeployment())).toList();
  }

  private static Plan plan(
      LoraAdapter adapter,
      KubernetesClient kube,
      Observed observed,
      Known known,
      Optional<String> notPromoted,
      Instant now) {
    Serving serving = adapter.getSpec().getServing();
    Loader.Request request = null;
    Loader loader = null;
    if (serving != null) {
      Map<Integer, AdapterVersion> byNumber = new TreeMap<>(Comparator.reverseOrder());
      observed.versions().forEach(v -> byNumber.put(v.getVersion(), v));
      LoraAdapterStatus computed =
          LoraAdapterStatusCalculator.compute(adapter, observed.versions(), now);
      RolloutStatus rollout =
          RolloutPlanner.next(
              known.rollout(),
              known.serving(),
              computed.getDesiredVersion(),
              adapter.getMetadata().getGeneration(),
              notPromoted,
              RolloutSteps.normalize(serving.getRollout().getSteps()).size(),
              now);
      request =
          new Loader.Request(
              adapter.getMetadata().getName(),
              known.serving(),
              rollout,
              serving.getRollout(),
              byNumber,
              serving.getPort(),
              serving.getContainer(),
              now);
      InferenceServer client = observed.servers().client();
      loader =
          serving.getLoader() == Serving.Loader.restart
              ? new RestartRollout(kube, client)
              : new HotLoadRollout(client);
    }
    Inputs inputs =
        new Inputs(
            request == null ? List.of() : rolloutKey(request.rollout()),
            known.serving(),
            observed.versions(),
            serving,
            observed.targets().stream().map(LoraAdapterReconciler::describe).toList(),
            observed.dropped().stream().map(TargetStatus::getDeployment).sorted().toList(),
            Objects.hashCode(observed.servers().apiKey()));
    return new Plan(request, loader, inputs);
  }

  /** The fields of a rollout that say where it is (not its message, which carries timings). */
  private static List<Object> rolloutKey(RolloutStatus r) {
    return r == null
        ? List.of()
        : Arrays.asList(
            r.getVersion(),
            r.getFromVersion(),
            r.getPhase(),
            r.getStep(),
            r.getStartedAt(),
            r.getStepPassedAt(),
            r.getGeneration());
  }

  /** A target as the work sees it: a change in its Deployment or ready pods makes work due. */
  private static String describe(Target target) {
    return target.deployment()
        + (target.object() == null ? "" : "@" + target.object().getMetadata().getResourceVersion())
        + (target.problem() == null ? "" : " " + target.problem())
        + target.readyPods().stream()
            .map(p -> " " + p.getMetadata().getName() + "=" + p.getStatus().getPodIP())
            .collect(Collectors.joining());
  }

  /**
   * Starts the server work if it is due and none is running; returns when to reconcile again
   * without an event (null: only on one).
   */
  private Duration act(
      ResourceID id,
      LoraAdapter adapter,
      KubernetesClient kube,
      Observed observed,
      Known known,
      Plan plan,
      Instant now) {
    if (work.busy(id)) {
      return RESYNC; // its end reconciles again
    }
    if (plan.loader() == null && observed.dropped().isEmpty()) {
      return null; // nothing served through the operator: nothing to look at again
    }
    if (observed.servers().problem() != null) {
      return known.lookAgain();
    }
    Optional<ServerWork.Finished<ServerResult>> last = work.last(id);
    if (!ServerWork.due(last, plan.inputs(), known.lookAgain(), now)) {
      return Duration.between(now, last.get().at().plus(known.lookAgain()));
    }
    work.start(
        id,
        plan.inputs(),
        () ->
            serverWork(
                adapter, kube, observed.servers(), plan, observed.targets(), observed.dropped()));
    return RESYNC;
  }

  /**
   * The server work of one adapter, on a worker thread: the loader's run, then unloading the
   * adapter from dropped targets. What it did that deserves an Event or a metric is recorded here,
   * once, as it happens.
   */
  private ServerResult serverWork(
      LoraAdapter adapter,
      KubernetesClient kube,
      Servers servers,
      Plan plan,
      List<Target> targets,
      List<TargetStatus> dropped) {
    String namespace = adapter.getMetadata().getNamespace();
    String name = adapter.getMetadata().getName();
    Loader.Outcome outcome = null;
    if (plan.loader() != null) {
      outcome = plan.loader().run(plan.request(), targets);
      for (RolloutEvents.Event e : outcome.events()) {
        events.record(kube, adapter, e.type(), e.reason(), e.message(), clock.instant());
      }
      for (TargetStatus target : outcome.targets()) {
        metrics.servingVersion(namespace, name, target.getDeployment(), target.getServingVersion());
      }
    }
    Set<String> withdrawn = new java.util.HashSet<>();
    Map<String, String> problems = new TreeMap<>();
    for (TargetStatus target : dropped) {
      List<String> failed =
          withdraw(adapter, kube, target.getDeployment(), portOf(adapter, target), servers);
      if (failed.isEmpty()) {
        withdrawn.add(target.getDeployment());
        metrics.forgetServing(namespace, name, target.getDeployment());
      } else {
        problems.put(target.getDeployment(), failed.get(0));
      }
    }
    return new ServerResult(outcome, withdrawn, problems);
  }

  /** The status to record: versions and conditions, and the serving state as known. */
  private static LoraAdapterStatus status(
      LoraAdapter adapter,
      Observed observed,
      Known known,
      Optional<String> notPromoted,
      Instant now) {
    LoraAdapterStatus status =
        adapter.getSpec().getServing() == null
            ? LoraAdapterStatusCalculator.compute(adapter, observed.versions(), now)
            : LoraAdapterStatusCalculator.compute(
                adapter,
                observed.versions(),
                new ServingResult(
                    known.serving(),
                    known.rollout(),
                    known.targets(),
                    known.problems(),
                    notPromoted),
                now);
    List<TargetStatus> withdrawing = withdrawing(observed.dropped(), known.result());
    if (!withdrawing.isEmpty()) {
      List<TargetStatus> targets =
          new ArrayList<>(status.getTargets() == null ? List.of() : status.getTargets());
      targets.addAll(withdrawing);
      status.setTargets(targets);
    }
    return status;
  }

  /**
   * Dropped targets stay in status until work has unloaded the adapter from them: a restarted
   * operator finds them there and unloads them then.
   */
  private static List<TargetStatus> withdrawing(List<TargetStatus> dropped, ServerResult result) {
    List<TargetStatus> entries = new ArrayList<>();
    for (TargetStatus target : dropped) {
      if (result != null && result.withdrawn().contains(target.getDeployment())) {
        continue;
      }
      String problem =
          result == null ? null : result.withdrawProblems().get(target.getDeployment());
      TargetStatus entry = new TargetStatus();
      entry.setDeployment(target.getDeployment());
      entry.setPort(target.getPort());
      entry.setMessage(
          "no longer a target; unloading the adapter" + (problem == null ? "" : ": " + problem));
      entries.add(entry);
    }
    return entries;
  }

  /** Events for what changed since the recorded status, then the status patch. */
  private UpdateControl<LoraAdapter> record(
      LoraAdapter adapter,
      KubernetesClient client,
      LoraAdapterStatus status,
      Duration lookAgain,
      Instant now) {
    LoraAdapterStatus previous = adapter.getStatus();
    if (Objects.equals(previous, status)) {
      return rescheduled(UpdateControl.noUpdate(), lookAgain);
    }
    for (Condition changed :
        Conditions.changed(
            previous == null ? null : previous.getConditions(), status.getConditions())) {
      LoraAdapterStatusCalculator.eventType(changed)
          .ifPresent(
              type ->
                  events.record(
                      client, adapter, type, changed.getReason(), changed.getMessage(), now));
    }
    if (previous != null
        && status.getLatestVersion() != null
        && !status.getLatestVersion().equals(previous.getLatestVersion())) {
      events.record(
          client,
          adapter,
          EventRecorder.NORMAL,
          Reasons.VERSION_PUBLISHED,
          "version " + status.getLatestVersion() + " published",
          now);
    }
    recordRollout(adapter, client, previous, status, now);
    return rescheduled(StatusPatch.of(adapter, status, LoraAdapter::new), lookAgain);
  }

  private static UpdateControl<LoraAdapter> rescheduled(
      UpdateControl<LoraAdapter> control, Duration lookAgain) {
    return lookAgain == null ? control : control.rescheduleAfter(lookAgain);
  }

  /** The client for the adapter's servers (with its API key), or why there is none. */
  private record Servers(InferenceServer client, String apiKey, String problem) {}

  /**
   * The API key is read with a GET on each reconcile rather than through an informer: an informer
   * would cache every Secret in the watched namespaces, and RBAC for {@code get} alone is the
   * narrower grant.
   */
  private Servers servers(LoraAdapter adapter, KubernetesClient client) {
    Serving serving = adapter.getSpec().getServing();
    SecretKeyRef ref = serving == null ? null : serving.getApiKeySecretRef();
    if (ref == null) {
      return new Servers(server, null, null);
    }
    String namespace = adapter.getMetadata().getNamespace();
    Secret secret;
    try {
      secret = client.secrets().inNamespace(namespace).withName(ref.getName()).get();
    } catch (KubernetesClientException e) {
      // e.g. forbidden: the operator's Role lacks "get secrets" in this namespace
      String why = e.getStatus() != null ? e.getStatus().getMessage() : e.getMessage();
      return new Servers(null, null, "cannot read secret " + ref.getName() + ": " + why);
    }
    ApiKeys.ApiKey key = ApiKeys.from(ref, secret, namespace);
    return key.problem() != null
        ? new Servers(null, null, key.problem())
        : new Servers(server.withApiKey(key.value()), key.value(), null);
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

  private static int portOf(LoraAdapter adapter, TargetStatus target) {
    if (target != null && target.getPort() != null) {
      return target.getPort();
    }
    Serving serving = adapter.getSpec().getServing();
    return serving == null ? 8000 : serving.getPort();
  }

  /** Unloads the adapter from one Deployment's ready pods (on a worker); what could not be done. */
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
   * A deleted LoraAdapter is unloaded from the servers it was hot-loaded into before it goes, by
   * server work like any other. A server that does not answer holds the deletion for at most {@link
   * #WITHDRAW_GRACE}, then the adapter goes anyway with a Warning event: a finalizer must never
   * wedge a namespace.
   */
  @Override
  public DeleteControl cleanup(LoraAdapter adapter, Context<LoraAdapter> context) {
    ResourceID id = ResourceID.fromResource(adapter);
    Instant now = clock.instant();
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
    Servers servers = servers(adapter, context.getClient());
    List<String> inputs = entries.stream().map(TargetStatus::getDeployment).sorted().toList();
    Optional<ServerWork.Finished<ServerResult>> last =
        work.last(id).filter(f -> f.inputs().equals(inputs) && f.result() != null);
    if (last.isPresent() && last.get().result().withdrawProblems().isEmpty()) {
      return deleted(adapter, id);
    }
    boolean graceOver =
        Duration.between(Instant.parse(adapter.getMetadata().getDeletionTimestamp()), now)
                .compareTo(WITHDRAW_GRACE)
            >= 0;
    if (graceOver) {
      List<String> problems =
          last.map(f -> List.copyOf(f.result().withdrawProblems().values()))
              .orElse(List.of("no answer from the servers yet"));
      events.record(
          context.getClient(),
          adapter,
          EventRecorder.WARNING,
          Reasons.WITHDRAW_INCOMPLETE,
          "deleted without unloading it everywhere: " + String.join("; ", problems),
          now);
      return deleted(adapter, id);
    }
    if (!work.busy(id) && ServerWork.due(last, inputs, RETRY, now)) {
      KubernetesClient kube = context.getClient();
      work.start(
          id,
          inputs,
          () -> serverWork(adapter, kube, servers, new Plan(null, null, null), List.of(), entries));
    }
    return DeleteControl.noFinalizerRemoval().rescheduleAfter(RETRY);
  }

  private DeleteControl deleted(LoraAdapter adapter, ResourceID id) {
    work.forget(id);
    metrics.forgetServing(adapter.getMetadata().getNamespace(), adapter.getMetadata().getName());
    return DeleteControl.defaultDelete();
  }

  /** With requireLowerEvalLoss and version latest: why the desired version is held back. */
  private static Optional<String> notPromoted(
      LoraAdapter adapter, List<AdapterVersion> versions, Known known, Instant now) {
    Serving serving = adapter.getSpec().getServing();
    boolean pinned = adapter.getSpec().getVersion().getIntVal() != null;
    if (serving == null
        || pinned
        || !Boolean.TRUE.equals(serving.getRollout().getRequireLowerEvalLoss())) {
      return Optional.empty();
    }
    Integer desired =
        LoraAdapterStatusCalculator.compute(adapter, versions, now).getDesiredVersion();
    if (desired == null) {
      return Optional.empty();
    }
    AdapterVersion candidate = find(versions, desired);
    AdapterVersion current = known.serving() == null ? null : find(versions, known.serving());
    RolloutStatus rollout = known.rollout();
    if (rollout != null
        && desired.equals(rollout.getVersion())
        && RolloutStatus.PROGRESSING.equals(rollout.getPhase())) {
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
      events.record(client, adapter, e.type(), e.reason(), e.message(), now);
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
