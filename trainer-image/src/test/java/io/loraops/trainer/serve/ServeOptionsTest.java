package io.loraops.trainer.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import io.loraops.trainer.TrainerException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The serve command line, as vLLM's flags. */
class ServeOptionsTest {
  @Test
  void defaultsFollowVllm() {
    ServeOptions o = ServeOptions.parse(new String[] {"--model", "/models/tiny-llama/"}, Map.of());
    assertThat(o.servedModelName()).isEqualTo("tiny-llama");
    assertThat(o.apiKey()).isNull();
    assertThat(o.host()).isEqualTo("0.0.0.0");
    assertThat(o.port()).isEqualTo(8000);
    assertThat(o.maxLoras()).isEqualTo(16);
    assertThat(o.maxCpuLoras()).isEqualTo(16);
    assertThat(o.loraModules()).isEmpty();
  }

  @Test
  void flagsTakeSpaceOrEqualsAndLoraModulesTakeSeveralValues() {
    ServeOptions o =
        ServeOptions.parse(
            new String[] {
              "--model=/m/base",
              "--lora-modules",
              "a=/x/a",
              "b=/x/b",
              "--served-model-name",
              "base",
              "--lora-modules={\"name\": \"c\", \"path\": \"/x/c\"}",
              "--port=0",
              "--host",
              "127.0.0.1",
              "--max-loras",
              "3"
            });
    assertThat(o.model()).isEqualTo("/m/base");
    assertThat(o.servedModelName()).isEqualTo("base");
    assertThat(o.loraModules())
        .containsExactly(entry("a", "/x/a"), entry("b", "/x/b"), entry("c", "/x/c"));
    assertThat(o.port()).isZero();
    assertThat(o.host()).isEqualTo("127.0.0.1");
    assertThat(o.maxLoras()).isEqualTo(3);
    assertThat(o.maxCpuLoras()).isEqualTo(3); // vLLM's default: --max-loras
    // more --lora-modules than --max-loras is fine, as in vLLM: they take turns in memory
    assertThat(o.loraModules()).hasSize(3);
  }

  @Test
  void mistakesAreBadConfigsNamingTheFlag() {
    String[][] bad = {
      {},
      {"--model"},
      {"--model", "m", "--port", "x"},
      {"--model", "m", "--bogus", "1"},
      {"--model", "m", "--lora-modules", "noequals"},
      {"--model", "m", "--max-loras", "0"},
      {"--model", "m", "--max-loras", "4", "--max-cpu-loras", "2"}
    };
    for (String[] args : bad) {
      assertThatThrownBy(() -> ServeOptions.parse(args))
          .isInstanceOf(TrainerException.class)
          .hasMessageContaining("serve: ")
          .hasMessageContaining("usage: lora-trainer serve");
    }
  }

  @Test
  void apiKeyComesFromTheFlagElseFromVllmsVariable() {
    String[] model = {"--model", "/m/base"};
    assertThat(ServeOptions.parse(model, Map.of("VLLM_API_KEY", "from-env")).apiKey())
        .isEqualTo("from-env");
    assertThat(ServeOptions.parse(model, Map.of("VLLM_API_KEY", "")).apiKey()).isNull();
    String[] flag = {"--model", "/m/base", "--api-key", "from-flag"};
    assertThat(ServeOptions.parse(flag, Map.of("VLLM_API_KEY", "from-env")).apiKey())
        .isEqualTo("from-flag");
  }
}
