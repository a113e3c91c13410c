package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.HTTPHeader;
import io.fabric8.kubernetes.api.model.IntOrString;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Runs one check of a probe against a container that is a local process, the way the kubelet's
 * prober does: {@code httpGet} succeeds on a status from 200 to 399, {@code tcpSocket} when a
 * connection opens, {@code exec} when the command exits 0; each within the probe's timeout. Runs on
 * the agent's probe threads; reads only what it is given.
 */
final class Prober {
  private Prober() {}

  /**
   * What a probe of one container runs against.
   *
   * @param podIp the default host for httpGet and tcpSocket
   * @param ports the container's ports, for named probe ports
   * @param env the environment exec probes add to the agent's (the container's, paths rewritten)
   * @param dir working folder of exec probes
   * @param paths mount paths -> local paths, applied to exec commands
   */
  record Target(
      String podIp, List<ContainerPort> ports, Map<String, String> env, Path dir, PodPaths paths) {}

  /** A check's outcome; {@code message} says why it failed. */
  record Result(boolean success, String message) {
    static final Result OK = new Result(true, "");
  }

  static Result check(ProbeSpec spec, Target target) {
    try {
      var probe = spec.probe();
      if (probe.getHttpGet() != null) {
        return httpGet(probe.getHttpGet(), spec, target);
      }
      if (probe.getTcpSocket() != null) {
        String host =
            probe.getTcpSocket().getHost() == null || probe.getTcpSocket().getHost().isEmpty()
                ? target.podIp()
                : probe.getTcpSocket().getHost();
        int port = port(probe.getTcpSocket().getPort(), target.ports());
        try (Socket s = new Socket()) {
          s.connect(new InetSocketAddress(host, port), (int) spec.timeout().toMillis());
        }
        return Result.OK;
      }
      if (probe.getExec() != null) {
        return exec(probe.getExec().getCommand(), spec, target);
      }
      return new Result(false, "grpc probes are not supported by the local node agent");
    } catch (IOException | IllegalArgumentException e) {
      return new Result(false, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Result(false, "interrupted");
    }
  }

  private static Result httpGet(HTTPGetAction action, ProbeSpec spec, Target target)
      throws IOException {
    String scheme =
        action.getScheme() == null ? "http" : action.getScheme().toLowerCase(Locale.ROOT);
    String host =
        action.getHost() == null || action.getHost().isEmpty() ? target.podIp() : action.getHost();
    String path = action.getPath() == null || action.getPath().isEmpty() ? "/" : action.getPath();
    if (!path.startsWith("/")) {
      path = "/" + path;
    }
    int port = port(action.getPort(), target.ports());
    URI uri = URI.create(scheme + "://" + host + ":" + port + path);
    HttpURLConnection c = (HttpURLConnection) uri.toURL().openConnection(Proxy.NO_PROXY);
    if (c instanceof HttpsURLConnection https) {
      // As the kubelet: an HTTPS probe does not verify the certificate.
      https.setSSLSocketFactory(TRUST_ALL.getSocketFactory());
      https.setHostnameVerifier((h, s) -> true);
    }
    try {
      int timeout = (int) spec.timeout().toMillis();
      c.setConnectTimeout(timeout);
      c.setReadTimeout(timeout);
      c.setRequestProperty("User-Agent", "kube-probe/lora-local");
      c.setRequestProperty("Accept", "*/*");
      if (action.getHttpHeaders() != null) {
        for (HTTPHeader h : action.getHttpHeaders()) {
          c.setRequestProperty(h.getName(), h.getValue());
        }
      }
      int status = c.getResponseCode();
      try (InputStream body = status >= 400 ? c.getErrorStream() : c.getInputStream()) {
        if (body != null) {
          body.readNBytes(10 * 1024);
        }
      }
      return status >= 200 && status < 400
          ? Result.OK
          : new Result(false, "HTTP probe failed with statuscode: " + status);
    } finally {
      c.disconnect();
    }
  }

  private static Result exec(List<String> command, ProbeSpec spec, Target target)
      throws IOException, InterruptedException {
    if (command == null || command.isEmpty()) {
      return new Result(false, "exec probe has no command");
    }
    List<String> local = new ArrayList<>();
    command.forEach(a -> local.add(target.paths().rewrite(a)));
    // The output goes nowhere, so a chatty command never blocks on a full pipe.
    ProcessBuilder builder =
        new ProcessBuilder(local)
            .directory(target.dir().toFile())
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    builder.environment().putAll(target.env());
    Process p = builder.start();
    if (!p.waitFor(spec.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
      return new Result(false, "command timed out after " + spec.timeout().toSeconds() + "s");
    }
    return p.exitValue() == 0
        ? Result.OK
        : new Result(false, "command exited with " + p.exitValue());
  }

  /** A probe's port: a number, or the name of one of the container's ports. */
  static int port(IntOrString port, List<ContainerPort> ports) {
    if (port == null) {
      throw new IllegalArgumentException("probe has no port");
    }
    if (port.getIntVal() != null) {
      return port.getIntVal();
    }
    String name = port.getStrVal();
    if (name.chars().allMatch(Character::isDigit) && !name.isEmpty()) {
      return Integer.parseInt(name);
    }
    for (ContainerPort p : ports == null ? List.<ContainerPort>of() : ports) {
      if (name.equals(p.getName())) {
        return p.getContainerPort();
      }
    }
    throw new IllegalArgumentException("the container has no port named " + name);
  }

  private static final SSLContext TRUST_ALL = trustAll();

  private static SSLContext trustAll() {
    try {
      SSLContext ssl = SSLContext.getInstance("TLS");
      ssl.init(
          null,
          new TrustManager[] {
            new X509TrustManager() {
              @Override
              public void checkClientTrusted(X509Certificate[] chain, String authType) {}

              @Override
              public void checkServerTrusted(X509Certificate[] chain, String authType) {}

              @Override
              public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
              }
            }
          },
          null);
      return ssl;
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
