package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The Helm chart ({@code charts/lora-operator}): it lints, its output is accepted by the real API
 * server, and its RBAC grants exactly what the operator's reconcilers declare (the ClusterRoles the
 * operator SDK generates into {@code target/kubernetes/kubernetes.yml}), no more, no less.
 */
class HelmChartIT {

  private static final Path CHART = ControlPlane.REPO.resolve("charts/lora-operator");
  private static final Path HELM = ControlPlane.REPO.resolve(".tools/bin/helm");
  private static final Path GENERATED =
      ControlPlane.REPO.resolve("operator/target/kubernetes/kubernetes.yml");
  private static final Path WORK = Path.of("target/helm-chart-it").toAbsolutePath();

  @Test
  void lintsCleanInEveryShape() throws Exception {
    helm("lint", "--strict", CHART.toString());
    helm("lint", "--strict", CHART.toString(), "--set", "watchNamespaces={team-a,team-b}");
    helm(
        "lint",
        "--strict",
        CHART.toString(),
        "--set",
        "replicas=2",
        "--set",
        "serviceMonitor.enabled=true");
  }

  @Test
  void renderedManifestsApplyCleanlyToTheApiServer() throws Exception {
    // The ServiceMonitor CRD is not installed here, so serviceMonitor stays at its default (off).
    String release = releaseName();
    String namespace = ControlPlane.newNamespace("chart");
    String teamA = ControlPlane.newNamespace("team-a");
    String teamB = ControlPlane.newNamespace("team-b");
    List<List<String>> shapes =
        List.of(
            List.of(),
            List.of("--set", "replicas=2"),
            List.of("--set", "watchNamespaces={" + teamA + "," + teamB + "}"));
    for (List<String> shape : shapes) {
      Path manifest = WORK.resolve(release + "-" + shape.size() + ".yaml");
      Files.writeString(manifest, template(release, namespace, true, shape));
      String out = ControlPlane.kubectl("apply", "--dry-run=server", "-f", manifest.toString());
      assertThat(out)
          .as("helm template %s | kubectl apply --dry-run=server", shape)
          .contains("customresourcedefinition.apiextensions.k8s.io/lorajobs.loraops.io")
          .contains("deployment.apps/" + release + "-lora-operator created (server dry run)")
          .contains("serviceaccount/" + release + "-lora-operator created (server dry run)");
    }
  }

  @Test
  void clusterRoleGrantsExactlyTheOperatorsGeneratedRules() throws Exception {
    List<HasMetadata> objects = load(template(releaseName(), "ops", false, List.of()));
    List<ClusterRole> clusterRoles = ofKind(objects, ClusterRole.class);
    assertThat(clusterRoles).as("ClusterRoles rendered for cluster-wide watching").isNotEmpty();
    assertNoWildcards(objects);
    assertSameGrants(
        "the chart's ClusterRole",
        grants(clusterRoles.stream().flatMap(r -> r.getRules().stream()).toList()));
    assertThat(ofKind(objects, Role.class)).as("no leader election Role for 1 replica").isEmpty();
  }

  @Test
  void watchedNamespacesGetRolesAndNothingClusterWide() throws Exception {
    List<HasMetadata> objects =
        load(template(releaseName(), "ops", false, List.of("--set", "watchNamespaces={a,b}")));
    assertThat(ofKind(objects, ClusterRole.class)).as("ClusterRoles").isEmpty();
    assertThat(objects).noneMatch(o -> o.getKind().equals("ClusterRoleBinding"));
    assertNoWildcards(objects);
    List<Role> roles = ofKind(objects, Role.class);
    for (String namespace : List.of("a", "b")) {
      List<PolicyRule> rules =
          roles.stream()
              .filter(r -> namespace.equals(r.getMetadata().getNamespace()))
              .flatMap(r -> r.getRules().stream())
              .toList();
      assertSameGrants("the chart's Role in namespace " + namespace, grants(rules));
      assertThat(objects)
          .as("RoleBinding in namespace %s", namespace)
          .anyMatch(
              o ->
                  o.getKind().equals("RoleBinding")
                      && namespace.equals(o.getMetadata().getNamespace()));
    }
    Container operator = operatorContainer(objects);
    assertThat(env(operator))
        .containsEntry("QUARKUS_OPERATOR_SDK_NAMESPACES", "a,b")
        .containsEntry("QUARKUS_OPERATOR_SDK_CONTROLLERS_LORAJOB_NAMESPACES", "a,b")
        .containsEntry("QUARKUS_OPERATOR_SDK_CONTROLLERS_LORAADAPTER_NAMESPACES", "a,b");
  }

  @Test
  void twoReplicasElectALeaderThroughALease() throws Exception {
    String release = releaseName();
    List<HasMetadata> objects =
        load(template(release, "ops", false, List.of("--set", "replicas=2")));
    String lease = release + "-lora-operator-leader";

    List<Role> roles = ofKind(objects, Role.class);
    assertThat(roles).as("leader election Role").hasSize(1);
    Role role = roles.get(0);
    assertThat(role.getMetadata().getNamespace()).isEqualTo("ops");
    Set<String> leaseGrants = new TreeSet<>();
    for (PolicyRule rule : role.getRules()) {
      assertThat(rule.getApiGroups()).containsExactly("coordination.k8s.io");
      assertThat(rule.getResources()).containsExactly("leases");
      String scope =
          rule.getResourceNames().isEmpty() ? "any" : String.join(",", rule.getResourceNames());
      rule.getVerbs().forEach(v -> leaseGrants.add(v + " " + scope));
    }
    // What JOSDK's LeaderElectionManager checks before it starts (create, get and update), and
    // the patch Fabric8's LeaderElector takes an expired Lease over with (RealNodeE2E).
    assertThat(leaseGrants)
        .containsExactlyInAnyOrder(
            "create any", "get " + lease, "update " + lease, "patch " + lease);

    Deployment deployment = ofKind(objects, Deployment.class).get(0);
    assertThat(deployment.getSpec().getReplicas()).isEqualTo(2);
    assertThat(deployment.getSpec().getStrategy().getType()).isEqualTo("RollingUpdate");
    assertThat(env(operatorContainer(objects)))
        .containsEntry("LORA_LEADER_ELECTION_ENABLED", "true")
        .containsEntry("LORA_LEADER_ELECTION_LEASE_NAME", lease);

    // One replica without leader election must never overlap with its successor.
    List<HasMetadata> single = load(template(release, "ops", false, List.of()));
    assertThat(ofKind(single, Deployment.class).get(0).getSpec().getStrategy().getType())
        .isEqualTo("Recreate");
    assertThat(env(operatorContainer(single)))
        .containsEntry("LORA_LEADER_ELECTION_ENABLED", "false");
  }

  @Test
  void deploymentIsProbedLockedDownAndConfigured() throws Exception {
    List<HasMetadata> objects =
        load(
            template(
                releaseName(),
                "ops",
                false,
                List.of(
                    "--set", "trainer.image=example/trainer:9",
                    "--set", "trainer.pullPolicy=Always",
                    "--set", "trainer.runAsUser=4242")));
    Container c = operatorContainer(objects);
    assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
    assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
    assertThat(c.getPorts())
        .anyMatch(p -> p.getContainerPort() == 8080 && "http".equals(p.getName()));
    assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(c.getSecurityContext().getRunAsNonRoot()).isTrue();
    assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
    assertThat(c.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(c.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    assertThat(env(c))
        .containsEntry("LORA_TRAINER_IMAGE", "example/trainer:9")
        .containsEntry("LORA_TRAINER_IMAGE_PULL_POLICY", "Always")
        .containsEntry("LORA_TRIAL_RUN_AS_USER", "4242")
        .containsEntry("QUARKUS_OPERATOR_SDK_NAMESPACES", "JOSDK_ALL_NAMESPACES")
        .containsEntry("MALLOC_ARENA_MAX", "2");
    // The JVM settings bench/scale measures (values.yaml jvmOptions) replace the image's.
    assertThat(env(c).get("JAVA_OPTS"))
        .contains("-XX:+UseSerialGC", "-Xms32m", "-Xmx192m", "-XX:+ExitOnOutOfMemoryError");
    assertThat(c.getResources().getLimits().get("memory").toString()).isEqualTo("384Mi");
    assertThat(objects).noneMatch(o -> o.getKind().equals("ServiceMonitor"));

    List<HasMetadata> monitored =
        load(
            template(releaseName(), "ops", false, List.of("--set", "serviceMonitor.enabled=true")));
    assertThat(monitored).filteredOn(o -> o.getKind().equals("ServiceMonitor")).hasSize(1);
  }

  @Test
  void installsWithHelm() throws Exception {
    String release = releaseName();
    String namespace = ControlPlane.newNamespace("chart-install");
    String kubeconfig = ControlPlane.kubeconfig().toString();
    // CRDs are already installed by ControlPlane; there is no kubelet, so pods stay Pending.
    helm(
        "install",
        release,
        CHART.toString(),
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        namespace,
        "--skip-crds",
        "--set",
        "replicas=2");
    try {
      String name = release + "-lora-operator";
      var client = ControlPlane.client();
      assertThat(client.apps().deployments().inNamespace(namespace).withName(name).get())
          .as("Deployment %s/%s", namespace, name)
          .isNotNull();
      assertThat(client.rbac().clusterRoles().withName(name).get()).as("ClusterRole").isNotNull();
      assertThat(
              client
                  .rbac()
                  .roles()
                  .inNamespace(namespace)
                  .withName(name + "-leader-election")
                  .get())
          .as("leader election Role")
          .isNotNull();
    } finally {
      helm("uninstall", release, "--kubeconfig", kubeconfig, "--namespace", namespace);
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** Fails, naming each grant, unless {@code rendered} equals the operator's generated rules. */
  private static void assertSameGrants(String what, Set<String> rendered) throws IOException {
    Set<String> required = generatedGrants();
    Set<String> missing = new TreeSet<>(required);
    missing.removeAll(rendered);
    Set<String> extra = new TreeSet<>(rendered);
    extra.removeAll(required);
    if (!missing.isEmpty() || !extra.isEmpty()) {
      fail(
          "%s differs from the operator's RBAC (its @RBACRule annotations, generated into %s).%n"
              + "  missing (the operator needs them): %s%n"
              + "  extra (least privilege: the operator never uses them): %s%n"
              + "Fix \"lora-operator.rules\" in charts/lora-operator/templates/_helpers.tpl.",
          what, GENERATED, missing, extra);
    }
  }

  /** "verb group/resource" for every rule of the ClusterRoles the operator SDK generated. */
  private static Set<String> generatedGrants() throws IOException {
    assertThat(GENERATED).as("generated manifests (run `mvn package` first)").exists();
    List<ClusterRole> roles;
    try (InputStream in = Files.newInputStream(GENERATED)) {
      roles = ofKind(ControlPlane.client().load(in).items(), ClusterRole.class);
    }
    assertThat(roles).as("ClusterRoles in %s", GENERATED).isNotEmpty();
    Set<String> grants = grants(roles.stream().flatMap(r -> r.getRules().stream()).toList());
    assertThat(grants).as("generated grants").isNotEmpty();
    return grants;
  }

  /** Rules as "verb group/resource" strings; rules limited to resourceNames grant less, skipped. */
  private static Set<String> grants(List<PolicyRule> rules) {
    Set<String> grants = new TreeSet<>();
    for (PolicyRule rule : rules) {
      if (rule.getResourceNames() != null && !rule.getResourceNames().isEmpty()) {
        continue;
      }
      for (String group : rule.getApiGroups()) {
        for (String resource : rule.getResources()) {
          for (String verb : rule.getVerbs()) {
            grants.add(verb + " " + (group.isEmpty() ? "core" : group) + "/" + resource);
          }
        }
      }
    }
    return grants;
  }

  private static void assertNoWildcards(List<HasMetadata> objects) {
    List<PolicyRule> rules = new ArrayList<>();
    ofKind(objects, ClusterRole.class).forEach(r -> rules.addAll(r.getRules()));
    ofKind(objects, Role.class).forEach(r -> rules.addAll(r.getRules()));
    assertThat(rules).as("rendered RBAC rules").isNotEmpty();
    for (PolicyRule rule : rules) {
      assertThat(rule.getVerbs()).as("verbs of %s", rule).doesNotContain("*");
      assertThat(rule.getResources()).as("resources of %s", rule).doesNotContain("*");
      assertThat(rule.getApiGroups()).as("apiGroups of %s", rule).doesNotContain("*");
      assertThat(rule.getNonResourceURLs()).as("nonResourceURLs of %s", rule).isEmpty();
    }
  }

  private static Container operatorContainer(List<HasMetadata> objects) {
    List<Deployment> deployments = ofKind(objects, Deployment.class);
    assertThat(deployments).as("Deployments").hasSize(1);
    return deployments.get(0).getSpec().getTemplate().getSpec().getContainers().get(0);
  }

  /** Plain-value environment variables of a container. */
  private static Map<String, String> env(Container container) {
    return container.getEnv().stream()
        .filter(e -> e.getValue() != null)
        .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
  }

  private static <T> List<T> ofKind(List<HasMetadata> objects, Class<T> type) {
    return objects.stream().filter(type::isInstance).map(type::cast).toList();
  }

  private static List<HasMetadata> load(String yaml) {
    return ControlPlane.client()
        .load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)))
        .items();
  }

  private static String template(
      String release, String namespace, boolean includeCrds, List<String> flags)
      throws IOException, InterruptedException {
    List<String> args =
        new ArrayList<>(List.of("template", release, CHART.toString(), "--namespace", namespace));
    if (includeCrds) {
      args.add("--include-crds");
    }
    args.addAll(flags);
    return helm(args.toArray(String[]::new));
  }

  private static String releaseName() {
    return "it-" + UUID.randomUUID().toString().substring(0, 6).toLowerCase(Locale.ROOT);
  }

  /** Runs the pinned helm with its caches under target/; returns stdout, fails on non-zero exit. */
  private static String helm(String... args) throws IOException, InterruptedException {
    Files.createDirectories(WORK);
    List<String> command = new ArrayList<>();
    command.add(HELM.toString());
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().put("HELM_CACHE_HOME", WORK.resolve("cache").toString());
    pb.environment().put("HELM_CONFIG_HOME", WORK.resolve("config").toString());
    pb.environment().put("HELM_DATA_HOME", WORK.resolve("data").toString());
    Path stderr = Files.createTempFile(WORK, "helm", ".err");
    pb.redirectError(stderr.toFile());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    boolean done = p.waitFor(60, TimeUnit.SECONDS);
    String err = Files.readString(stderr);
    Files.delete(stderr);
    if (!done || p.exitValue() != 0) {
      throw new IllegalStateException(
          "helm " + String.join(" ", args) + " failed:\n" + out + "\n" + err);
    }
    return out;
  }
}
