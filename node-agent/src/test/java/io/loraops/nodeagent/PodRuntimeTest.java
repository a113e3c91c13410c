package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pod's life with real local processes and no API server: restarts, back-off, probes acted on,
 * deletion, and the command line and environment the process gets.
 */
class PodRuntimeTest {

  static final String IP = "127.77.0.42";
  @TempDir Path root;
  PodRuntime runtime;

  @AfterEach
  void stopLeftovers() {
    if (runtime != null && runtime.current() != null) {
      runtime.current().stopAndWait(Duration.ZERO);
    }
  }

  @Test
  void alwaysRestartsAtOnceThenBacksOffInCrashLoopBackOff() throws Exception {
    runtime = start(pod("Always", "echo run $(POD_IP); exit 1"));
    PodProcess.Run first = awaitExit();
    runtime.tick(Instant.now());

    // First restart: immediate, its predecessor's log kept for `kubectl logs --previous`.
    assertThat(runtime.current()).isNotSameAs(first).isNotNull();
    ContainerStatus cs = container(runtime.status(Instant.now()));
    assertThat(cs.getRestartCount()).isEqualTo(1);
    assertThat(cs.getState().getRunning()).isNotNull();
    assertThat(cs.getLastState().getTerminated().getExitCode()).isEqualTo(1);
    assertThat(cs.getLastState().getTerminated().getReason()).isEqualTo("Error");
    assertThat(Files.readString(podDir().resolve("c.previous.log"))).isEqualTo("run " + IP + "\n");

    awaitExit();
    Instant exited = Instant.now();
    runtime.tick(exited);
    PodStatus backingOff = runtime.status(exited);
    assertThat(backingOff.getPhase()).isEqualTo("Running");
    cs = container(backingOff);
    assertThat(cs.getState().getWaiting().getReason()).isEqualTo("CrashLoopBackOff");
    assertThat(cs.getState().getWaiting().getMessage()).startsWith("back-off 10s restarting");
    assertThat(cs.getRestartCount()).isEqualTo(1);
    assertThat(runtime.current()).isNull();

    runtime.tick(exited.plusSeconds(9));
    assertThat(runtime.current()).isNull();
    runtime.tick(exited.plusSeconds(10));
    assertThat(runtime.current()).isNotNull();
    assertThat(container(runtime.status(Instant.now())).getRestartCount()).isEqualTo(2);
  }

  @Test
  void onFailureFinishesOnSuccessAndNeverNeverRestarts() throws Exception {
    runtime = start(pod("OnFailure", "exit 0"));
    awaitExit();
    runtime.tick(Instant.now());
    assertThat(runtime.done()).isTrue();
    assertThat(runtime.status(Instant.now()).getPhase()).isEqualTo("Succeeded");

    runtime = start(pod("Never", "echo bye > /dev/termination-log; exit 3"));
    awaitExit();
    runtime.tick(Instant.now());
    assertThat(runtime.done()).isTrue();
    PodStatus failed = runtime.status(Instant.now());
    assertThat(failed.getPhase()).isEqualTo("Failed");
    var terminated = container(failed).getState().getTerminated();
    assertThat(terminated.getExitCode()).isEqualTo(3);
    assertThat(terminated.getMessage()).isEqualTo("bye\n");
    assertThat(container(failed).getRestartCount()).isZero();
  }

  @Test
  void readinessFollowsTheProbeAndFailingLivenessRestartsTheContainer() throws Exception {
    Pod pod =
        new PodBuilder(pod("Always", "sleep 30"))
            .editSpec()
            .editFirstContainer()
            .withReadinessProbe(tcpProbe().build())
            .withLivenessProbe(tcpProbe().withFailureThreshold(2).build())
            .endContainer()
            .endSpec()
            .build();
    runtime = start(pod);
    PodProcess.Run run = runtime.current();
    ProbeSpec readiness =
        ProbeSpec.of(
            ProbeSpec.Kind.READINESS, pod.getSpec().getContainers().get(0).getReadinessProbe());
    ProbeSpec liveness =
        ProbeSpec.of(
            ProbeSpec.Kind.LIVENESS, pod.getSpec().getContainers().get(0).getLivenessProbe());
    assertThat(container(runtime.status(Instant.now())).getReady()).isFalse();

    assertThat(runtime.onProbe(readiness, run, Prober.Result.OK, Instant.now())).isTrue();
    PodStatus ready = runtime.status(Instant.now());
    assertThat(container(ready).getReady()).isTrue();
    assertThat(ready.getConditions())
        .anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True"));

    Prober.Result refused = new Prober.Result(false, "connection refused");
    assertThat(runtime.onProbe(liveness, run, refused, Instant.now())).isFalse();
    assertThat(runtime.onProbe(liveness, run, refused, Instant.now())).isTrue();
    assertThat(run.process.waitFor(5, TimeUnit.SECONDS)).isTrue();
    runtime.tick(Instant.now());
    assertThat(runtime.current()).isNotSameAs(run).isNotNull();
    ContainerStatus cs = container(runtime.status(Instant.now()));
    assertThat(cs.getRestartCount()).isEqualTo(1);
    assertThat(cs.getReady()).isFalse(); // the new run must pass its readiness probe again
    // A late result about the killed run changes nothing.
    assertThat(runtime.onProbe(readiness, run, Prober.Result.OK, Instant.now())).isFalse();
  }

  @Test
  void deletionSendsSigtermThenSigkillAfterTheGracePeriod() throws Exception {
    runtime = start(pod("Always", "trap '' TERM; sleep 30 & wait; sleep 30"));
    Thread.sleep(300); // let the shell install its trap
    PodProcess.Run run = runtime.current();
    Instant now = Instant.now();
    runtime.stop(now, Duration.ofSeconds(1));
    runtime.tick(Instant.now());
    assertThat(runtime.running()).isTrue(); // it ignores SIGTERM
    runtime.tick(now.plusSeconds(1));
    assertThat(run.process.waitFor(5, TimeUnit.SECONDS)).isTrue();
    runtime.tick(Instant.now());
    assertThat(runtime.done()).isTrue();
    assertThat(container(runtime.status(Instant.now())).getState().getTerminated().getExitCode())
        .isEqualTo(137);
  }

  @Test
  void aDeploymentPodThatCannotBePreparedWaitsAndABatchPodFails() {
    Pod noCommand =
        new PodBuilder(pod("Always", "true"))
            .editSpec()
            .editFirstContainer()
            .withCommand()
            .withArgs()
            .withImage("unknown/image:1")
            .endContainer()
            .endSpec()
            .build();
    runtime = start(noCommand);
    PodStatus waiting = runtime.status(Instant.now());
    assertThat(waiting.getPhase()).isEqualTo("Pending");
    assertThat(container(waiting).getState().getWaiting().getReason()).isEqualTo("ErrImagePull");
    assertThat(runtime.done()).isFalse();

    runtime =
        start(new PodBuilder(noCommand).editSpec().withRestartPolicy("Never").endSpec().build());
    assertThat(runtime.done()).isTrue();
    assertThat(runtime.status(Instant.now()).getPhase()).isEqualTo("Failed");
  }

  @Test
  void theProcessGetsExpandedArgsRewrittenPathsAndThePathMap() throws Exception {
    Pod pod =
        new PodBuilder(pod("Always", "true"))
            .editSpec()
            .editFirstContainer()
            .withCommand("serve")
            .withArgs("--host", "$(POD_IP)", "--adapters", "$(ADAPTERS)/x", "$$(POD_IP)")
            .addNewEnv()
            .withName("ADAPTERS")
            .withValue("/lora/adapters")
            .endEnv()
            .addNewVolumeMount()
            .withName("adapters")
            .withMountPath("/lora/adapters/")
            .endVolumeMount()
            .endContainer()
            .addNewVolume()
            .withName("adapters")
            .withNewPersistentVolumeClaim()
            .withClaimName("adapters")
            .endPersistentVolumeClaim()
            .endVolume()
            .endSpec()
            .build();
    PodProcess p = PodProcess.prepare(pod, settings(), null, IP);
    Path claim = root.resolve("claims/adapters");
    assertThat(p.command)
        .containsExactly("serve", "--host", IP, "--adapters", claim + "/x", "$(POD_IP)");
    assertThat(p.env).containsEntry("POD_IP", IP).containsEntry("ADAPTERS", claim.toString());
    Map<String, String> pathMap =
        new ObjectMapper().readValue(p.env.get("LORAOPS_PATH_MAP"), new TypeReference<>() {});
    assertThat(pathMap).containsExactly(Map.entry("/lora/adapters", claim.toString()));
  }

  private PodRuntime start(Pod pod) {
    PodRuntime r =
        new PodRuntime(
            pod,
            IP,
            Instant.now(),
            (p, ip) -> PodProcess.prepare(p, settings(), null, ip),
            (r2, run, probes, target) -> Map.of());
    r.start(Instant.now());
    return r;
  }

  private NodeAgent.Settings settings() {
    return new NodeAgent.Settings(
        "local-node", root, root.resolve("claims"), Map.of("cpu", new Quantity("2")), Map.of());
  }

  private PodProcess.Run awaitExit() throws InterruptedException {
    PodProcess.Run run = runtime.current();
    assertThat(run.process.waitFor(10, TimeUnit.SECONDS)).isTrue();
    return run;
  }

  private Path podDir() {
    return root.resolve("pods/ns_p");
  }

  private static ContainerStatus container(PodStatus s) {
    return s.getContainerStatuses().get(0);
  }

  private static ProbeBuilder tcpProbe() {
    return new ProbeBuilder().withNewTcpSocket().withPort(new IntOrString(8000)).endTcpSocket();
  }

  static Pod pod(String restartPolicy, String script) {
    return new PodBuilder()
        .withNewMetadata()
        .withName("p")
        .withNamespace("ns")
        .withUid("uid-" + restartPolicy)
        .endMetadata()
        .withNewSpec()
        .withRestartPolicy(restartPolicy)
        .withNodeName("local-node")
        .addNewContainer()
        .withName("c")
        .withImage("local/sh:1")
        .withCommand("sh", "-c", script)
        .addNewEnv()
        .withName("POD_IP")
        .withNewValueFrom()
        .withNewFieldRef()
        .withFieldPath("status.podIP")
        .endFieldRef()
        .endValueFrom()
        .endEnv()
        .endContainer()
        .endSpec()
        .build();
  }
}
