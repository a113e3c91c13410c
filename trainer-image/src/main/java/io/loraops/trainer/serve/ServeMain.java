package io.loraops.trainer.serve;

import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.io.PrintStream;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * The {@code serve} command: loads the base model and the {@code --lora-modules}, then opens the
 * port (so readiness means "can answer"), and serves until the process is stopped.
 */
public final class ServeMain {
  private ServeMain() {}

  /** Serves until the JVM exits; returns an exit code only if it cannot start. */
  public static int run(String[] args, PrintStream out) throws IOException, InterruptedException {
    ServeOptions o = ServeOptions.parse(args);
    InferenceEngine engine = InferenceEngine.load(o.model(), o.servedModelName(), o.maxCpuLoras());
    OpenAiServer server = new OpenAiServer(engine, out, o.apiKey());
    for (Map.Entry<String, String> m : o.loraModules().entrySet()) {
      try {
        server.loadAdapter(m.getKey(), m.getValue(), false);
      } catch (ApiException e) {
        throw TrainerException.badConfig("--lora-modules " + m.getKey() + ": " + e.getMessage());
      }
    }
    engine.warmUp();
    try {
      server.start(o.host(), o.port());
    } catch (IOException e) {
      throw TrainerException.badConfig(
          "serve: cannot listen on " + o.host() + ":" + o.port() + ": " + e.getMessage());
    }
    out.printf(
        "serve: listening on http://%s:%d (model '%s' from %s, max_model_len %d, %d adapters,"
            + " max %d%s)%n",
        o.host(),
        server.port(),
        o.servedModelName(),
        o.model(),
        engine.maxModelLen(),
        engine.adapterCount(),
        o.maxLoras(),
        o.apiKey() == null ? "" : ", /v1 wants an API key");
    out.flush();
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "serve-shutdown"));
    new CountDownLatch(1).await(); // the HTTP threads are daemons; this keeps the JVM up
    return 0;
  }
}
