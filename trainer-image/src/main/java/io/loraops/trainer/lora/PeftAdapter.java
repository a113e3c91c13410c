package io.loraops.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraops.trainer.TrainerException;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Hugging Face PEFT adapter files: {@code adapter_config.json} and {@code
 * adapter_model.safetensors} with keys {@code base_model.model.<module path>.lora_A.weight} [r, in]
 * and {@code ...lora_B.weight} [out, r] and metadata {@code {"format": "pt"}} (what {@code
 * PeftModel.save_pretrained} writes, and what PEFT, vLLM and TGI load).
 */
public final class PeftAdapter {
  public static final String CONFIG_FILE = "adapter_config.json";
  public static final String WEIGHTS_FILE = "adapter_model.safetensors";
  private static final String PREFIX = "base_model.model.";
  private static final Pattern KEY =
      Pattern.compile("base_model\\.model\\.(.+)\\.lora_([AB])(?:\\.default)?\\.weight");
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private PeftAdapter() {}

  public static String keyA(LoraLinear l) {
    return PREFIX + l.path() + ".lora_A.weight";
  }

  public static String keyB(LoraLinear l) {
    return PREFIX + l.path() + ".lora_B.weight";
  }

  /** A and B of every adapted layer by PEFT key. */
  public static Map<String, NDArray> tensors(CausalLM model) {
    Map<String, NDArray> t = new TreeMap<>();
    for (LoraLinear l : model.linears().values()) {
      if (l.hasAdapter()) {
        t.put(keyA(l), l.loraA());
        t.put(keyB(l), l.loraB());
      }
    }
    return t;
  }

  /** Writes both files into {@code dir}; returns their names, sorted. */
  public static List<String> write(Path dir, CausalLM model, LoraSpec spec, String baseModelName)
      throws IOException {
    Files.createDirectories(dir);
    List<LoraLinear> adapted = new ArrayList<>();
    model.linears().values().stream().filter(LoraLinear::hasAdapter).forEach(adapted::add);
    ObjectNode c = JSON.createObjectNode();
    c.putObject("alpha_pattern");
    c.putNull("auto_mapping");
    c.put("base_model_name_or_path", baseModelName);
    c.put("bias", "none");
    // GPT-2's Conv1D stores [in, out]; PEFT needs this flag to merge into it the right way round.
    c.put("fan_in_fan_out", model.config().family().equals("gpt2"));
    c.put("inference_mode", true);
    c.put("init_lora_weights", true);
    c.putNull("layers_pattern");
    c.putNull("layers_to_transform");
    if (spec.alpha() == Math.rint(spec.alpha())) {
      c.put("lora_alpha", (long) spec.alpha());
    } else {
      c.put("lora_alpha", spec.alpha());
    }
    c.put("lora_dropout", spec.dropout());
    c.putNull("modules_to_save");
    c.put("peft_type", "LORA");
    c.put("r", spec.rank());
    c.putObject("rank_pattern");
    c.putNull("revision");
    var targets = c.putArray("target_modules");
    LoraInjector.shortNames(adapted).forEach(targets::add);
    c.put("task_type", "CAUSAL_LM");
    c.put("use_dora", false);
    c.put("use_rslora", spec.rsLora());
    Files.writeString(dir.resolve(CONFIG_FILE), JSON.writeValueAsString(c) + "\n");
    SafeTensors.write(dir.resolve(WEIGHTS_FILE), tensors(model), Map.of("format", "pt"));
    return List.of(CONFIG_FILE, WEIGHTS_FILE);
  }

  /**
   * Whether an adapter declaring base model {@code declared} fits a base model served or known as
   * {@code servedName} from folder {@code modelPath}: empty (unknown), that name, the model
   * folder's path or name, or a path ending in that name (the trainer writes the trial's base model
   * name, else the model path).
   */
  public static boolean baseMatches(String declared, String servedName, String modelPath) {
    if (declared.isBlank()) {
      return true;
    }
    String dirName = fileName(modelPath);
    return declared.equals(servedName)
        || declared.equals(modelPath)
        || declared.equals(dirName)
        || fileName(declared).equals(dirName);
  }

  private static String fileName(String path) {
    String p =
        path.endsWith("/") && path.length() > 1 ? path.substring(0, path.length() - 1) : path;
    return p.substring(p.lastIndexOf('/') + 1);
  }

  /**
   * Fields of adapter_config.json that do not change what the adapter computes (bookkeeping, or how
   * A and B were initialised) or that {@link #load} reads itself: any value is accepted.
   */
  private static final Set<String> UNDERSTOOD =
      Set.of(
          "peft_type",
          "task_type",
          "auto_mapping",
          "base_model_name_or_path",
          "revision",
          "inference_mode",
          "r",
          "lora_alpha",
          "lora_dropout",
          "use_rslora",
          "target_modules",
          "init_lora_weights", // checked below
          "eva_config", // EVA initialises A and B only
          "corda_config",
          "megatron_core",
          "runtime_config",
          "peft_version",
          "qalora_group_size", // used only with use_qalora, refused below
          // PEFT itself sets it from the layer type (true for GPT-2's Conv1D, false for nn.Linear)
          // whatever the file says; A and B have the same shapes either way.
          "fan_in_fan_out",
          "bias"); // checked below

  /**
   * What in {@code c} asks for more than plain LoRA on the target modules (null: nothing): a PEFT
   * feature this trainer does not implement (DoRA, per-module ranks, trained biases, modules saved
   * whole, layer selection, ...) or a field it does not know, set to anything but its neutral value
   * (null, false, empty). A new PEFT field is thus refused until someone checks what it means,
   * rather than ignored: merged into weights or served, an ignored feature would be wrong silently.
   */
  static String unsupportedFeatures(JsonNode c) {
    List<String> found = new ArrayList<>();
    if (!c.path("peft_type").asText("LORA").equals("LORA")) {
      found.add("peft_type " + c.path("peft_type").asText() + " (not LORA)");
    }
    JsonNode init = c.path("init_lora_weights");
    if (!init.isMissingNode()
        && !init.isNull()
        && !init.isBoolean()
        && !List.of("gaussian", "eva").contains(init.asText())) {
      // PiSSA, OLoRA, CorDA and LoftQ initialise by changing W0 itself: such an adapter applies
      // only to that changed base (PEFT converts it to plain LoRA when saving with
      // path_initial_model_for_weight_conversion, which writes init_lora_weights true).
      found.add("init_lora_weights=" + init.asText() + " (an initialisation that changes W0)");
    }
    if (!c.path("bias").asText("none").equals("none")) {
      found.add("bias=" + c.path("bias").asText() + " (trained biases)");
    }
    for (var it = c.fields(); it.hasNext(); ) {
      var f = it.next();
      JsonNode v = f.getValue();
      boolean neutral =
          v.isNull()
              || (v.isBoolean() && !v.asBoolean())
              || (v.isContainerNode() && v.isEmpty())
              || (v.isTextual() && v.asText().isEmpty());
      if (!UNDERSTOOD.contains(f.getKey()) && !neutral) {
        found.add(f.getKey() + "=" + v);
      }
    }
    return found.isEmpty() ? null : String.join(", ", found);
  }

  /**
   * An adapter read from its files and checked against a model, installed nowhere yet.
   *
   * @param spec rank, alpha, dropout, targets and rsLoRA from adapter_config.json
   * @param factors A [r, in] and B [out, r] of every targeted layer, in model order
   */
  public record Loaded(LoraSpec spec, Map<LoraLinear, NDArray[]> factors) {}

  /**
   * Reads an adapter from {@code dir} into {@code model} (A and B become trainable). Every key must
   * name a linear layer of the model with the right shapes, and every targeted layer must have both
   * A and B; anything else is reported by name.
   */
  public static LoraSpec read(Path dir, CausalLM model) {
    Loaded loaded = load(dir, model, model.manager());
    loaded
        .factors()
        .forEach(
            (l, ab) -> l.setAdapter(ab[0], ab[1], loaded.spec().scale(), loaded.spec().dropout()));
    return loaded.spec();
  }

  /**
   * Reads the adapter in {@code dir} into tensors of {@code manager} and checks it against {@code
   * model} without touching the model: every key must name a linear layer with matching shapes, and
   * every targeted layer must have both A and B. Problems are reported by name, as a bad config.
   */
  public static Loaded load(Path dir, CausalLM model, NDManager manager) {
    JsonNode c;
    try {
      c = new ObjectMapper().readTree(dir.resolve(CONFIG_FILE).toFile());
    } catch (IOException e) {
      throw TrainerException.badConfig(
          "adapter " + dir + ": cannot read " + CONFIG_FILE + ": " + e.getMessage());
    }
    if (c == null || !c.isObject()) {
      throw TrainerException.badConfig(
          "adapter " + dir + ": " + CONFIG_FILE + " is not a JSON object");
    }
    String unsupported = unsupportedFeatures(c);
    if (unsupported != null) {
      throw TrainerException.badConfig(
          "adapter "
              + dir
              + ": "
              + CONFIG_FILE
              + " asks for "
              + unsupported
              + "; this trainer applies plain LoRA (W0 + scale·B·A on the target modules) only and"
              + " refuses an adapter it would apply wrongly");
    }
    int r = c.path("r").asInt(8);
    double alpha = c.path("lora_alpha").asDouble(8);
    boolean rs = c.path("use_rslora").asBoolean(false);
    double dropout = c.path("lora_dropout").asDouble(0);
    List<String> targets = new ArrayList<>();
    JsonNode t = c.path("target_modules");
    if (t.isTextual()) {
      targets.add(t.asText());
    } else {
      t.forEach(n -> targets.add(n.asText()));
    }
    if (targets.isEmpty()) {
      throw TrainerException.badConfig(
          "adapter " + dir + ": " + CONFIG_FILE + " has no target_modules");
    }
    LoraSpec spec = new LoraSpec(r, alpha, dropout, targets, rs);
    Map<String, NDArray[]> pairs = new LinkedHashMap<>();
    List<String> problems = new ArrayList<>();
    List<LoraLinear> wanted = List.of();
    try {
      wanted = LoraInjector.select(model, targets, CONFIG_FILE + " target_modules");
    } catch (TrainerException e) {
      problems.add(e.getMessage());
    }
    try {
      SafeTensors st = SafeTensors.open(dir.resolve(WEIGHTS_FILE));
      for (String key : st.entries().keySet()) {
        Matcher k = KEY.matcher(key);
        if (!k.matches() || !model.linears().containsKey(k.group(1))) {
          problems.add("unexpected key " + key);
          continue;
        }
        NDArray[] pair = pairs.computeIfAbsent(k.group(1), p -> new NDArray[2]);
        pair[k.group(2).equals("A") ? 0 : 1] = st.load(key, manager);
      }
    } catch (IOException e) {
      throw TrainerException.badConfig(
          "adapter " + dir + ": cannot read " + WEIGHTS_FILE + ": " + e.getMessage());
    }
    Map<LoraLinear, NDArray[]> factors = new LinkedHashMap<>();
    for (LoraLinear l : wanted) {
      NDArray[] pair = pairs.get(l.path());
      if (pair == null || pair[0] == null) {
        problems.add("missing key " + keyA(l));
      }
      if (pair == null || pair[1] == null) {
        problems.add("missing key " + keyB(l));
      }
      if (pair != null && pair[0] != null && pair[1] != null) {
        String shape = l.shapeProblem(pair[0], pair[1]);
        if (shape != null) {
          problems.add(shape);
        }
        factors.put(l, pair);
      }
    }
    for (String path : pairs.keySet()) {
      if (!wanted.isEmpty() && wanted.stream().noneMatch(l -> l.path().equals(path))) {
        problems.add("key for " + path + " which target_modules does not select");
      }
    }
    if (!problems.isEmpty()) {
      int shown = Math.min(problems.size(), 6);
      throw TrainerException.badConfig(
          "adapter "
              + dir
              + ": "
              + String.join("; ", problems.subList(0, shown))
              + (problems.size() > shown ? "; and " + (problems.size() - shown) + " more" : ""));
    }
    return new Loaded(spec, factors);
  }
}
