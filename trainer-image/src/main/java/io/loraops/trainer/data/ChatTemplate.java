package io.loraops.trainer.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The model's own chat template, so that the trainer learns and the server prompts with the layout
 * the model (and vLLM, given the same template) uses. Looked up as transformers does: {@code
 * chat_template} in {@code tokenizer_config.json} (a string, or a list of {name, template} where
 * "default" is used), else {@code chat_template.jinja} in the model folder. Special tokens ({@code
 * bos_token}, {@code eos_token}, ...) come from {@code tokenizer_config.json}, as strings or
 * {content: ...} objects.
 *
 * <p>A model without a template (the project's tiny models) gets {@link #HOUSE}, rendered by the
 * same engine. The template is rendered once at load on probe conversations, so a template the
 * engine cannot render stops the run at start (bad config, naming the template and line).
 */
public final class ChatTemplate {
  /**
   * The template used when the model has none: {@code <|role|>\n{content}}, every assistant message
   * closed by EOS, a generation prompt ending with the assistant header.
   */
  public static final String HOUSE =
      "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
          + "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
          + "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Jinja ENGINE = new Jinja();
  private static final List<String> SPECIAL =
      List.of("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token");

  private final String name;
  private final String source;
  private final Map<String, Object> specialTokens;

  private ChatTemplate(String name, String source, Map<String, Object> specialTokens) {
    this.name = name;
    this.source = Jinja.dialect(source);
    this.specialTokens = specialTokens;
  }

  /**
   * The template of the model in {@code modelDir}, or the house template; {@code eosText} is the
   * house template's EOS when tokenizer_config.json names none.
   */
  public static ChatTemplate load(Path modelDir, String eosText) {
    Path configFile = modelDir.resolve("tokenizer_config.json");
    JsonNode config = tokenizerConfig(modelDir);
    Map<String, Object> special = new HashMap<>();
    for (String key : SPECIAL) {
      special.put(key, tokenText(config.path(key)));
    }
    String name = configFile + " chat_template";
    String source = fromConfig(config.get("chat_template"), name);
    Path jinjaFile = modelDir.resolve("chat_template.jinja");
    if (source == null && Files.isRegularFile(jinjaFile)) {
      try {
        name = jinjaFile.toString();
        source = Files.readString(jinjaFile, StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw TrainerException.badConfig(jinjaFile + ": cannot read: " + e.getMessage());
      }
    }
    if (source == null) {
      if (((String) special.get("eos_token")).isEmpty()) {
        special.put("eos_token", eosText);
      }
      name = "the house chat template (" + modelDir + " has no chat_template)";
      source = HOUSE;
    }
    ChatTemplate t = new ChatTemplate(name, source, special);
    t.probe();
    return t;
  }

  /**
   * The special token {@code key} (e.g. "eos_token") that {@code tokenizer_config.json} names, ""
   * when it names none.
   */
  public static String configuredToken(Path modelDir, String key) {
    return tokenText(tokenizerConfig(modelDir).path(key));
  }

  private static JsonNode tokenizerConfig(Path modelDir) {
    Path file = modelDir.resolve("tokenizer_config.json");
    if (!Files.isRegularFile(file)) {
      return JSON.createObjectNode();
    }
    try {
      return JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw TrainerException.badConfig(file + ": not valid JSON: " + e.getMessage());
    }
  }

  /** A special token as a string or as {content: ...}; "" when absent or null. */
  private static String tokenText(JsonNode v) {
    if (v.isObject()) {
      return v.path("content").asText("");
    }
    return v.isTextual() ? v.asText() : "";
  }

  private static String fromConfig(JsonNode v, String name) {
    if (v == null || v.isNull()) {
      return null;
    }
    if (v.isTextual()) {
      return v.asText();
    }
    if (v.isArray()) {
      for (JsonNode named : v) {
        if (named.path("name").asText().equals("default")) {
          return named.path("template").asText();
        }
      }
      throw TrainerException.badConfig(name + ": a list of templates without one named 'default'");
    }
    throw TrainerException.badConfig(name + ": must be a string or a list of {name, template}");
  }

  /** Where the template came from (for messages). */
  public String name() {
    return name;
  }

  /** The special token {@code key} (e.g. "eos_token") as text, "" when not set. */
  public String specialToken(String key) {
    return (String) specialTokens.getOrDefault(key, "");
  }

  /**
   * {@code messages} rendered as transformers' {@code apply_chat_template(..., tokenize=False)}.
   *
   * @throws TrainerException a data error when the template refuses the conversation
   *     (raise_exception)
   */
  public String render(List<ChatFormat.Message> messages, boolean addGenerationPrompt) {
    return render(messages, addGenerationPrompt, Map.of());
  }

  /**
   * {@code messages} rendered with template variables {@code kwargs} besides them, as {@code
   * apply_chat_template(..., tools=..., documents=..., **kwargs)} and vLLM's {@code tools}, {@code
   * documents} and {@code chat_template_kwargs} (e.g. Qwen3's {@code enable_thinking}); values are
   * JSON-shaped (maps, lists, strings, numbers, booleans).
   */
  public String render(
      List<ChatFormat.Message> messages, boolean addGenerationPrompt, Map<String, Object> kwargs) {
    try {
      return renderOrThrow(messages, addGenerationPrompt, kwargs);
    } catch (Jinja.Raised e) {
      throw TrainerException.dataError(name + " refuses the conversation: " + e.getMessage());
    }
  }

  private String renderOrThrow(
      List<ChatFormat.Message> messages, boolean addGenerationPrompt, Map<String, Object> kwargs) {
    List<Map<String, Object>> list = new ArrayList<>();
    for (ChatFormat.Message m : messages) {
      Map<String, Object> msg = new LinkedHashMap<>();
      msg.put("role", m.role());
      msg.put("content", m.content());
      list.add(msg);
    }
    // As transformers: keyword arguments may override a special token, never the conversation.
    Map<String, Object> context = new HashMap<>(specialTokens);
    context.putAll(kwargs);
    context.put("messages", list);
    context.put("add_generation_prompt", addGenerationPrompt);
    try {
      return ENGINE.render(source, context);
    } catch (Jinja.Unrenderable e) {
      throw TrainerException.badConfig(
          name
              + " line "
              + e.line
              + ": the chat template cannot be rendered ("
              + e.getMessage()
              + ")");
    }
  }

  /**
   * Renders conversations every template must accept, so an engine failure shows at load. The
   * template may refuse one (e.g. no system role): that is the template working, not failing.
   */
  private void probe() {
    List<List<ChatFormat.Message>> probes =
        List.of(
            List.of(
                new ChatFormat.Message("user", "Hi"), new ChatFormat.Message("assistant", "Hello")),
            List.of(
                new ChatFormat.Message("system", "Be brief."),
                new ChatFormat.Message("user", "Hi"),
                new ChatFormat.Message("assistant", "Hello"),
                new ChatFormat.Message("user", "Bye")));
    for (List<ChatFormat.Message> p : probes) {
      for (boolean gen : new boolean[] {false, true}) {
        try {
          renderOrThrow(p, gen, Map.of());
        } catch (Jinja.Raised e) {
          // the template refused this probe; the engine understood it
        }
      }
    }
  }
}
