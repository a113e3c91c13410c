package io.loraops.trainer.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code serve} command line, named as vLLM's {@code vllm serve} flags so that one can stand in
 * for the other:
 *
 * <pre>
 * serve --model DIR [--served-model-name NAME] [--host 0.0.0.0] [--port 8000]
 *       [--lora-modules NAME=PATH ...] [--max-loras 16] [--max-cpu-loras N] [--api-key KEY]
 * </pre>
 *
 * Flags take {@code --flag value} or {@code --flag=value}; {@code --lora-modules} takes one or more
 * {@code name=path} (or vLLM's JSON form {@code {"name": .., "path": ..}}) and may repeat.
 *
 * @param model the base model folder as given (an in-pod path in local mode)
 * @param servedModelName the name requests use for the base model
 * @param host address to bind
 * @param port port to bind; 0 picks a free one
 * @param loraModules adapters to load before listening, name -> path
 * @param maxLoras vLLM's adapters per batch; this server runs one request at a time, so it only
 *     sets the default of {@code maxCpuLoras}
 * @param maxCpuLoras adapters whose weights stay in memory (default {@code maxLoras}, as vLLM);
 *     more may be loaded, the least recently used are read again from disk when next used
 * @param apiKey the bearer token the {@code /v1} routes want ({@code --api-key}, else the {@code
 *     VLLM_API_KEY} environment variable as vLLM reads it); null: no token wanted
 */
public record ServeOptions(
    String model,
    String servedModelName,
    String host,
    int port,
    Map<String, String> loraModules,
    int maxLoras,
    int maxCpuLoras,
    String apiKey) {

  public static final String USAGE =
      "serve --model <dir> [--served-model-name NAME] [--host 0.0.0.0] [--port 8000]"
          + " [--lora-modules name=path ...] [--max-loras 16] [--max-cpu-loras N]"
          + " [--api-key KEY]";

  /** The variable vLLM reads its API key from when {@code --api-key} is not given. */
  public static final String API_KEY_ENV = "VLLM_API_KEY";

  /** Parses {@code args}; a bad or missing flag is a bad config naming it (exit code 2). */
  public static ServeOptions parse(String[] args) {
    return parse(args, System.getenv());
  }

  /** Parses {@code args}, with {@code env} standing for the process environment. */
  public static ServeOptions parse(String[] args, Map<String, String> env) {
    String model = null;
    String apiKey = env.get(API_KEY_ENV);
    String served = null;
    String host = "0.0.0.0";
    int port = 8000;
    int maxLoras = 16;
    Integer maxCpuLoras = null;
    Map<String, String> modules = new LinkedHashMap<>();
    List<String> a = new ArrayList<>(List.of(args));
    for (int i = 0; i < a.size(); i++) {
      String arg = a.get(i);
      if (!arg.startsWith("--")) {
        throw bad("unexpected argument '" + arg + "'");
      }
      String flag = arg;
      String inline = null;
      int eq = arg.indexOf('=');
      if (eq > 0) {
        flag = arg.substring(0, eq);
        inline = arg.substring(eq + 1);
      }
      if (flag.equals("--lora-modules")) {
        List<String> values = new ArrayList<>();
        if (inline != null) {
          values.add(inline);
        }
        while (i + 1 < a.size() && !a.get(i + 1).startsWith("--")) {
          values.add(a.get(++i));
        }
        if (values.isEmpty()) {
          throw bad("--lora-modules needs at least one name=path");
        }
        for (String v : values) {
          String[] nameAndPath = loraModule(v);
          if (modules.put(nameAndPath[0], nameAndPath[1]) != null) {
            throw bad("--lora-modules names '" + nameAndPath[0] + "' twice");
          }
        }
        continue;
      }
      String value = inline;
      if (value == null) {
        if (i + 1 >= a.size()) {
          throw bad(flag + " needs a value");
        }
        value = a.get(++i);
      }
      switch (flag) {
        case "--model" -> model = value;
        case "--served-model-name" -> served = value;
        case "--host" -> host = value;
        case "--port" -> port = number(flag, value, 0, 65535);
        case "--max-loras" -> maxLoras = number(flag, value, 1, 100_000);
        case "--max-cpu-loras" -> maxCpuLoras = number(flag, value, 1, 100_000);
        case "--api-key" -> apiKey = value;
        default -> throw bad("unknown flag " + flag);
      }
    }
    if (model == null || model.isBlank()) {
      throw bad("--model is required");
    }
    if (served == null || served.isBlank()) {
      Path name = Path.of(model).getFileName();
      served = name == null ? model : name.toString();
    }
    if (modules.containsKey(served)) {
      throw bad("--lora-modules name '" + served + "' is the served model name");
    }
    if (maxCpuLoras == null) {
      maxCpuLoras = maxLoras;
    } else if (maxCpuLoras < maxLoras) {
      // vLLM refuses the same: a batch's adapters must all fit in the CPU cache
      throw bad("--max-cpu-loras (" + maxCpuLoras + ") must be >= --max-loras (" + maxLoras + ")");
    }
    if (apiKey != null && apiKey.isEmpty()) {
      apiKey = null; // an empty VLLM_API_KEY means none, as in vLLM
    }
    return new ServeOptions(model, served, host, port, modules, maxLoras, maxCpuLoras, apiKey);
  }

  private static String[] loraModule(String v) {
    if (v.startsWith("{")) {
      try {
        JsonNode n = new ObjectMapper().readTree(v);
        String name = n.path("name").asText("");
        String path = n.path("path").asText("");
        if (!name.isEmpty() && !path.isEmpty()) {
          return new String[] {name, path};
        }
      } catch (IOException e) {
        // reported below
      }
      throw bad("--lora-modules '" + v + "': expected {\"name\": .., \"path\": ..}");
    }
    int eq = v.indexOf('=');
    if (eq <= 0 || eq == v.length() - 1) {
      throw bad("--lora-modules '" + v + "': expected name=path");
    }
    return new String[] {v.substring(0, eq), v.substring(eq + 1)};
  }

  private static int number(String flag, String value, int min, int max) {
    try {
      int n = Integer.parseInt(value);
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw bad(flag + " must be an integer in [" + min + ", " + max + "], got '" + value + "'");
  }

  private static TrainerException bad(String why) {
    return TrainerException.badConfig("serve: " + why + "\nusage: lora-trainer " + USAGE);
  }
}
