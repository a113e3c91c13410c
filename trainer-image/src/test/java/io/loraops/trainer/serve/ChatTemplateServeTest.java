package io.loraops.trainer.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.loraops.trainer.Fixtures;
import io.loraops.trainer.data.ChatFormat;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server prompts chats with the model's own chat template, as the trainer trains on it. */
class ChatTemplateServeTest {
  private static final String TEMPLATE =
      "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
          + "{% endif %}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
          + "{% if add_generation_prompt %}[assistant]{% endif %}";

  @TempDir Path dir;

  @Test
  void chatPromptIsTheTemplateWithTheGenerationPromptAndARefusalIs400() throws Exception {
    Path tiny = Fixtures.model("tiny-llama");
    try (Stream<Path> files = Files.list(tiny)) {
      for (Path f : files.toList()) {
        Files.copy(f, dir.resolve(f.getFileName()));
      }
    }
    Files.writeString(
        dir.resolve("tokenizer_config.json"),
        new com.fasterxml.jackson.databind.ObjectMapper()
            .writeValueAsString(Map.of("eos_token", "<eos>", "chat_template", TEMPLATE)));
    try (InferenceEngine engine = InferenceEngine.load(dir.toString(), "tiny", 2)) {
      assertThat(engine.encodeChat(List.of(new ChatFormat.Message("user", "one two")), Map.of()))
          .containsExactly(engine.encode("[user]one two[assistant]"));
      assertThatThrownBy(
              () ->
                  engine.encodeChat(
                      List.of(
                          new ChatFormat.Message("system", "x"),
                          new ChatFormat.Message("user", "y")),
                      Map.of()))
          .isInstanceOf(ApiException.class)
          .hasMessageContaining("System role not supported")
          .satisfies(e -> assertThat(((ApiException) e).status()).isEqualTo(400));
    }
  }

  @Test
  void toolsDocumentsAndChatTemplateKwargsBecomeTemplateVariablesAsVllmPassesThem()
      throws Exception {
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    Map<String, Object> kwargs =
        OpenAiServer.templateKwargs(
            json.readTree(
                "{\"messages\": [], \"tools\": [{\"function\": {\"name\": \"f\", \"x\": 1}}],"
                    + " \"documents\": null,"
                    + " \"chat_template_kwargs\": {\"enable_thinking\": false}}"));
    // vLLM's request model: description and parameters present (null), unknown fields dropped
    Map<String, Object> function = new java.util.LinkedHashMap<>();
    function.put("name", "f");
    function.put("description", null);
    function.put("parameters", null);
    assertThat(kwargs)
        .containsExactly(
            Map.entry("tools", List.of(Map.of("type", "function", "function", function))),
            Map.entry("enable_thinking", false));
    assertThat(((List<?>) kwargs.get("tools")).get(0).toString())
        .isEqualTo("{type=function, function={name=f, description=null, parameters=null}}");
    assertThatThrownBy(() -> OpenAiServer.templateKwargs(json.readTree("{\"tools\": {}}")))
        .isInstanceOf(ApiException.class)
        .hasMessageContaining("tools must be an array");
  }
}
