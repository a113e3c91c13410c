package io.loraops.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraops.contract.ExitCodes;
import io.loraops.trainer.TrainerException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where the template comes from, the Jinja that real templates need, and errors at load. Equality
 * with transformers on the real Llama 3.1, Qwen3 and Gemma 3 templates is proven by
 * hack/peft-proof/chat-templates.sh.
 */
class ChatTemplateTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<ChatFormat.Message> CHAT =
      List.of(
          new ChatFormat.Message("user", "<aBc>"), new ChatFormat.Message("assistant", "ü \"q\""));

  @TempDir Path dir;

  private ChatTemplate withConfig(Map<String, Object> tokenizerConfig) throws Exception {
    Files.writeString(
        dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(tokenizerConfig));
    return ChatTemplate.load(dir, "<eos>");
  }

  @Test
  void withoutATemplateTheHouseTemplateIsUsed() {
    ChatTemplate t = ChatTemplate.load(dir, "<eos>");
    assertThat(t.name()).contains("house chat template");
    assertThat(t.render(CHAT, true))
        .isEqualTo("<|user|>\n<aBc><|assistant|>\nü \"q\"<eos><|assistant|>\n");
  }

  @Test
  void templateAndSpecialTokensComeFromTokenizerConfig() throws Exception {
    ChatTemplate t =
        withConfig(
            Map.of(
                "bos_token",
                Map.of("content", "<s>", "lstrip", false),
                "eos_token",
                "</s>",
                "chat_template",
                "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}"
                    + "{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"));
    assertThat(t.render(CHAT, false)).isEqualTo("<s>[user]<aBc></s>[assistant]ü \"q\"</s>");
    assertThat(t.render(CHAT, true)).endsWith("</s>[assistant]");
    assertThat(t.specialToken("eos_token")).isEqualTo("</s>");
  }

  @Test
  void theDefaultOfNamedTemplatesIsUsed() throws Exception {
    ChatTemplate t =
        withConfig(
            Map.of(
                "chat_template",
                List.of(
                    Map.of("name", "tool_use", "template", "tools"),
                    Map.of("name", "default", "template", "default"))));
    assertThat(t.render(CHAT, false)).isEqualTo("default");
  }

  @Test
  void chatTemplateJinjaIsReadWhenTheConfigHasNone() throws Exception {
    Files.writeString(dir.resolve("chat_template.jinja"), "{{ messages | length }}\n");
    ChatTemplate t = withConfig(Map.of("eos_token", "</s>"));
    assertThat(t.name()).endsWith("chat_template.jinja");
    assertThat(t.render(CHAT, false)).isEqualTo("2"); // keep_trailing_newline=False
  }

  /** Expected output from transformers' own Jinja environment (4.57.6) on the same template. */
  @Test
  void pythonJinjaThatRealTemplatesUseRendersAsInTransformers() throws Exception {
    String template =
        """
        {%- set ns = namespace(last=messages|length - 1, n=0) %}
        {%- for m in messages[::-1] %}
            {%- if m.content.startswith('<') and m.content.endswith('>') %}{% set ns.n = ns.n + 1 %}{% endif %}
        {%- endfor %}
        {{- ns.last }}|{{ ns.n }}
        {%- for m in messages %}
            {{- '|' + m.content.strip('<>').upper() + ',' + m.content.split('b')[-1].lstrip('<').rstrip('>') + ',' + m.content.lower() }}
            {%- if loop.last %}|{{ m | tojson }}{% endif %}
        {%- endfor %}
        """;
    ChatTemplate t = withConfig(Map.of("chat_template", template));
    assertThat(t.render(CHAT, false))
        .isEqualTo(
            "1|1|ABC,aBc,<abc>|Ü \"Q\",ü \"q\",ü \"q\"|{\"role\": \"assistant\", \"content\": \"ü \\\"q\\\"\"}");
  }

  @Test
  void keywordVariablesReachTheTemplateAndTojsonIndentsAsPython() throws Exception {
    // As Llama 3.1 lists tools and Qwen3 reads enable_thinking.
    ChatTemplate t =
        withConfig(
            Map.of(
                "chat_template",
                "{% if tools %}{{ tools[0] | tojson(indent=2) }}|{{ tools | tojson }}|{% endif %}"
                    + "{% if enable_thinking is defined and enable_thinking is false %}no-think|"
                    + "{% endif %}{{ messages | length }}"));
    // JSON-shaped, in order, as the server hands a request's tools over
    Object tool =
        JSON.readValue(
            "{\"function\": {\"name\": \"f\", \"parameters\": []}, \"type\": \"function\"}",
            Object.class);
    Map<String, Object> kwargs = new java.util.LinkedHashMap<>();
    kwargs.put("tools", List.of(tool, Map.of()));
    kwargs.put("enable_thinking", false);
    // json.dumps(tools[0], indent=2) and json.dumps(tools, ensure_ascii=False)
    assertThat(t.render(CHAT, true, kwargs))
        .isEqualTo(
            "{\n  \"function\": {\n    \"name\": \"f\",\n    \"parameters\": []\n  },\n"
                + "  \"type\": \"function\"\n}|[{\"function\": {\"name\": \"f\", \"parameters\": []},"
                + " \"type\": \"function\"}, {}]|no-think|2");
    assertThat(t.render(CHAT, true)).isEqualTo("2");
  }

  @Test
  void generationBlocksRenderTheirBody() throws Exception {
    ChatTemplate t =
        withConfig(
            Map.of(
                "chat_template",
                "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
                    + "{{ m.content }}!{% endgeneration %}{% else %}{{ m.content }}{% endif %}"
                    + "{% endfor %}"));
    assertThat(t.render(CHAT, false)).isEqualTo("<aBc>ü \"q\"!");
  }

  @Test
  void aTemplateTheEngineCannotRenderIsABadConfigAtLoadNamingTheLine() {
    assertThatThrownBy(
            () ->
                withConfig(
                    Map.of(
                        "chat_template",
                        "{% for m in messages %}\n{{ m.content.casefold() }}\n{% endfor %}")))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining("tokenizer_config.json chat_template line 2")
        .hasMessageContaining("casefold")
        .satisfies(
            e -> assertThat(((TrainerException) e).exitCode()).isEqualTo(ExitCodes.BAD_CONFIG));
  }

  @Test
  void aConversationTheTemplateRefusesIsADataError() throws Exception {
    ChatTemplate t =
        withConfig(
            Map.of(
                "chat_template",
                "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}"
                    + "{% endif %}ok"));
    assertThat(t.render(CHAT, false)).isEqualTo("ok");
    assertThatThrownBy(() -> t.render(List.of(new ChatFormat.Message("system", "x")), false))
        .isInstanceOf(TrainerException.class)
        .hasMessageContaining("System role not supported")
        .satisfies(
            e -> assertThat(((TrainerException) e).exitCode()).isEqualTo(ExitCodes.DATA_ERROR));
  }
}
