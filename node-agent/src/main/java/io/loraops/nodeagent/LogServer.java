package io.loraops.nodeagent;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.function.Predicate;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * The one kubelet endpoint {@code kubectl logs} needs: the API server proxies {@code
 * pods/<name>/log} to {@code https://<node>:<port>/containerLogs/<ns>/<pod>/<container>}. Serves
 * the log of the container's current run, or with {@code previous=true} of the run before it (see
 * {@link PodProcess#launch}); with {@code follow=true} it streams until the container ends.
 */
final class LogServer implements AutoCloseable {

  private final HttpsServer server;
  private final Path pods;
  private final Predicate<String> running;

  /**
   * @param pods folder of pod folders ({@code <ns>_<pod>/<container>.log})
   * @param running whether the pod folder name ({@code <ns>_<pod>}) has a live container
   */
  LogServer(Path root, Path pods, Predicate<String> running) throws IOException {
    this.pods = pods;
    this.running = running;
    server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    server.setHttpsConfigurator(new HttpsConfigurator(sslContext(root)));
    server.setExecutor(
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "kubelet-logs");
              t.setDaemon(true);
              return t;
            }));
    server.createContext("/containerLogs/", this::serve);
    server.start();
  }

  int port() {
    return server.getAddress().getPort();
  }

  private void serve(HttpExchange exchange) throws IOException {
    String[] parts = exchange.getRequestURI().getPath().split("/");
    // ["", "containerLogs", ns, pod, container]
    if (parts.length != 5) {
      exchange.sendResponseHeaders(404, -1);
      return;
    }
    String podDir = parts[2] + "_" + parts[3];
    String query =
        exchange.getRequestURI().getRawQuery() == null
            ? ""
            : exchange.getRequestURI().getRawQuery();
    boolean previous = query.contains("previous=true");
    Path log = PodProcess.logFile(pods.resolve(podDir), parts[4], previous);
    if (!Files.exists(log)) {
      String message =
          previous
              ? "previous terminated container \""
                  + parts[4]
                  + "\" in pod \""
                  + parts[3]
                  + "\" not found\n"
              : "no log for " + parts[2] + "/" + parts[3] + "/" + parts[4] + " on this node\n";
      byte[] body = message.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(previous ? 400 : 404, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
      return;
    }
    boolean follow = !previous && query.contains("follow=true");
    Integer tail = null;
    for (String kv : query.split("&")) {
      if (kv.startsWith("tailLines=")) {
        tail =
            Integer.parseInt(
                URLDecoder.decode(kv.substring("tailLines=".length()), StandardCharsets.UTF_8));
      }
    }
    exchange.getResponseHeaders().add("Content-Type", "text/plain");
    exchange.sendResponseHeaders(200, 0);
    try (OutputStream out = exchange.getResponseBody()) {
      long offset = 0;
      Object file = fileKey(log);
      if (tail != null) {
        List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        String tailText =
            String.join("\n", lines.subList(Math.max(0, lines.size() - tail), lines.size()));
        out.write((tailText.isEmpty() ? "" : tailText + "\n").getBytes(StandardCharsets.UTF_8));
        offset = Files.size(log);
      }
      do {
        Object now = fileKey(log);
        if (now == null) {
          break; // the pod's folder is gone
        }
        if (!now.equals(file)) {
          // The container restarted: its log is a new file, read from the start.
          file = now;
          offset = 0;
        }
        try (InputStream in = Files.newInputStream(log)) {
          in.skipNBytes(Math.min(offset, Files.size(log)));
          byte[] chunk = in.readAllBytes();
          out.write(chunk);
          out.flush();
          offset += chunk.length;
        }
        if (follow) {
          sleep();
        }
      } while (follow && running.test(podDir));
    }
  }

  /** Identifies the file behind {@code path} (its inode), null if there is none. */
  private static Object fileKey(Path path) {
    try {
      return Files.readAttributes(path, BasicFileAttributes.class).fileKey();
    } catch (IOException e) {
      return null;
    }
  }

  private static void sleep() {
    try {
      Thread.sleep(500);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * A self-signed serving certificate, made once with openssl (the API server does not verify it
   * unless told to).
   */
  private static SSLContext sslContext(Path root) throws IOException {
    Path dir = root.resolve("pki");
    Path p12 = dir.resolve("kubelet.p12");
    try {
      if (!Files.exists(p12)) {
        Files.createDirectories(dir);
        run(
            List.of(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=local-node",
                "-keyout",
                dir.resolve("kubelet.key").toString(),
                "-out",
                dir.resolve("kubelet.crt").toString()));
        run(
            List.of(
                "openssl",
                "pkcs12",
                "-export",
                "-passout",
                "pass:local",
                "-inkey",
                dir.resolve("kubelet.key").toString(),
                "-in",
                dir.resolve("kubelet.crt").toString(),
                "-out",
                p12.toString()));
      }
      KeyStore keys = KeyStore.getInstance("PKCS12");
      try (FileInputStream in = new FileInputStream(p12.toFile())) {
        keys.load(in, "local".toCharArray());
      }
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(keys, "local".toCharArray());
      SSLContext ssl = SSLContext.getInstance("TLS");
      ssl.init(kmf.getKeyManagers(), null, null);
      return ssl;
    } catch (java.security.GeneralSecurityException | InterruptedException e) {
      throw new IOException("cannot set up the log endpoint's TLS: " + e.getMessage(), e);
    }
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IOException(String.join(" ", command.subList(0, 2)) + " failed: " + out);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
