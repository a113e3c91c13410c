package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Probes against real sockets and processes on a pod-like loopback address. */
class ProberTest {

  static final String IP = "127.77.250.2";
  @TempDir Path dir;
  HttpServer server;
  Prober.Target target;

  @BeforeEach
  void serve() throws Exception {
    server = HttpServer.create(new InetSocketAddress(IP, 0), 0);
    server.createContext(
        "/",
        x -> {
          int code = x.getRequestURI().getPath().equals("/healthz") ? 200 : 404;
          x.sendResponseHeaders(code, -1);
          x.close();
        });
    server.start();
    target =
        new Prober.Target(
            IP,
            List.of(
                new ContainerPortBuilder()
                    .withName("http")
                    .withContainerPort(server.getAddress().getPort())
                    .build()),
            Map.of("PROBE_EXIT", "3"),
            dir,
            new PodPaths().mount("/data", dir));
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  @Test
  void httpGetSucceedsOn2xxAgainstThePodIpAndANamedPort() {
    assertThat(
            check(
                    new ProbeBuilder()
                        .withNewHttpGet()
                        .withPath("/healthz")
                        .withPort(new IntOrString("http"))
                        .endHttpGet()
                        .build())
                .success())
        .isTrue();
    Prober.Result missing =
        check(
            new ProbeBuilder()
                .withNewHttpGet()
                .withPath("/nope")
                .withPort(new IntOrString("http"))
                .endHttpGet()
                .build());
    assertThat(missing.success()).isFalse();
    assertThat(missing.message()).contains("404");
  }

  @Test
  void tcpSocketSucceedsWhenSomethingListens() {
    int port = server.getAddress().getPort();
    assertThat(
            check(
                    new ProbeBuilder()
                        .withNewTcpSocket()
                        .withPort(new IntOrString(port))
                        .endTcpSocket()
                        .build())
                .success())
        .isTrue();
    // Nothing listens on this pod's address on port 1.
    assertThat(
            check(
                    new ProbeBuilder()
                        .withNewTcpSocket()
                        .withPort(new IntOrString(1))
                        .endTcpSocket()
                        .build())
                .success())
        .isFalse();
  }

  @Test
  void execRunsWithThePodsEnvironmentAndRewrittenPaths() throws Exception {
    java.nio.file.Files.writeString(dir.resolve("healthy"), "");
    assertThat(check(exec("test", "-f", "/data/healthy")).success()).isTrue();
    assertThat(check(exec("test", "-f", "/data/sick")).success()).isFalse();
    Prober.Result env = check(exec("sh", "-c", "exit $PROBE_EXIT"));
    assertThat(env.message()).isEqualTo("command exited with 3");
  }

  @Test
  void execTimesOut() {
    Probe slow = new ProbeBuilder(exec("sleep", "5")).withTimeoutSeconds(1).build();
    long start = System.nanoTime();
    assertThat(check(slow).message()).contains("timed out");
    assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(4000);
  }

  private Prober.Result check(Probe probe) {
    return Prober.check(ProbeSpec.of(ProbeSpec.Kind.READINESS, probe), target);
  }

  private static Probe exec(String... command) {
    return new ProbeBuilder().withNewExec().withCommand(command).endExec().build();
  }
}
