package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.loraops.operator.api.v1alpha1.LoraJob;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * What only a real node shows: the chart's two operator replicas with leader election finish a
 * sweep after the leader is killed and its pod replaced, and a trial over its cgroup memory limit
 * is killed by the kernel and reported {@code OutOfMemory}.
 */
class RealNodeE2E {

  @Test
  void anotherReplicaFinishesTheSweepWhenTheLeaderIsKilled() throws Exception {
    try (LocalMode local = new LocalMode("ha", "replicas=2")) {
      local.applyQuickstartAs("ha", "parallelism: 2", "parallelism: 1");
      local.awaitTrialsSucceeded("ha", 1);

      List<Pod> replicas = local.operatorPods();
      assertThat(replicas).hasSize(2);
      Set<String> names =
          replicas.stream().map(p -> p.getMetadata().getName()).collect(Collectors.toSet());
      String leader = holder(local);
      assertThat(names).contains(leader);
      Pod leaderPod =
          replicas.stream()
              .filter(p -> p.getMetadata().getName().equals(leader))
              .findFirst()
              .orElseThrow();

      // SIGKILL (the Lease is not released), then the pod object goes: its replacement is a new
      // pod with a new identity, and the standby takes over once the Lease expires.
      long killed = System.nanoTime();
      local.killContainer(leaderPod);
      local.kubectl("delete", "pod", leader, "--grace-period=0", "--force", "--wait=false");
      // The standby or the killed pod's replacement, whichever asks first once the Lease expires.
      String next =
          await()
              .atMost(Duration.ofMinutes(2))
              .pollInterval(Duration.ofMillis(200))
              .ignoreExceptions()
              .until(() -> holder(local), h -> h != null && !h.equals(leader));
      System.out.printf(
          "leader failover: %s (%s) took the Lease %.1f s after %s was killed%n",
          next,
          names.contains(next) ? "the standby" : "the replacement pod",
          (System.nanoTime() - killed) / 1e9,
          leader);

      local.assertPublishedOnceFrom("ha", 4);
      assertThat(local.operatorPods()).hasSize(2);
    }
  }

  @Test
  void aTrialOverItsMemoryLimitIsReportedOutOfMemory() throws Exception {
    try (LocalMode local = new LocalMode("oom")) {
      // A 100M-parameter model's weights alone (400 MB in fp32) are more than the limit allows.
      local.generateModel("llama-100m");
      local.applyQuickstartAs(
          "oom",
          "name: tiny-llama-h32",
          "name: llama-100m",
          "uri: pvc://models/tiny-llama-h32",
          "uri: pvc://models/llama-100m",
          "rank: [4, 8, 16, 32]",
          "rank: [8]",
          "memory: 2Gi",
          "memory: 256Mi",
          "backoffLimit: 2",
          "backoffLimit: 0");
      TrialStatus trial =
          await()
              .atMost(Duration.ofMinutes(3))
              .pollInterval(Duration.ofSeconds(1))
              .until(
                  () -> {
                    LoraJob j = local.loraJob("oom");
                    return j == null || j.getStatus() == null || j.getStatus().getTrials() == null
                        ? null
                        : j.getStatus().getTrials().get(0);
                  },
                  t -> t != null && "Failed".equals(t.getPhase()));
      assertThat(trial.getReason()).isEqualTo("OutOfMemory");
      assertThat(trial.getMessage()).contains("exit 137").contains("memory limit");
    }
  }

  /** The Lease's holder: the pod name of the replica that reconciles. */
  private static String holder(LocalMode local) {
    List<Lease> leases =
        local.client.leases().inNamespace(local.namespace).list().getItems().stream()
            .filter(l -> l.getMetadata().getName().endsWith("-leader"))
            .toList();
    assertThat(leases).hasSize(1);
    return leases.get(0).getSpec().getHolderIdentity();
  }
}
