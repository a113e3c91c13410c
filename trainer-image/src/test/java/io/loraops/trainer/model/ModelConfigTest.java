package io.loraops.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.loraops.contract.ExitCodes;
import io.loraops.trainer.TrainerException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The config reader: both transformers layouts, the families' switches, and the allow-list that
 * refuses by name whatever it does not implement. Expected inverse frequencies were printed by
 * transformers 4.57.6's {@code ROPE_INIT_FUNCTIONS}.
 */
class ModelConfigTest {
  @TempDir Path tmp;

  /** A LLaMA config body (without braces) in the shape Llama 3.2 1B ships, minus its RoPE. */
  private static final String LLAMA =
      """
      "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": false,
      "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": [128001, 128008],
      "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
      "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false,
      "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
      "pretraining_tp": 1, "rms_norm_eps": 1e-05, "tie_word_embeddings": true, "use_cache": true,
      "vocab_size": 128256""";

  private ModelConfig read(String body) throws IOException {
    Files.writeString(tmp.resolve("config.json"), "{" + body + "}");
    return ModelConfig.read(tmp);
  }

  private void refused(String body, String... messageParts) {
    assertThatThrownBy(() -> read(body))
        .isInstanceOfSatisfying(
            TrainerException.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCodes.BAD_CONFIG))
        .hasMessageContaining("config.json")
        .hasMessageContainingAll(messageParts);
  }

  @Test
  void transformers5RopeParametersThetaIsRead() throws IOException {
    ModelConfig c =
        read(
            LLAMA
                + """
                , "dtype": "bfloat16", "transformers_version": "5.0.0",
                "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}""");
    assertThat(c.rope().theta()).isEqualTo(500000.0);
    assertThat(c.rope().type()).isEqualTo("default");
    assertThat(c.rope().invFreq(64, c.maxPositions(), 16)[1])
        .isCloseTo((float) Math.pow(500000.0, -2.0 / 64), within(1e-6f));
  }

  @Test
  void transformers4TopLevelThetaIsRead() throws IOException {
    ModelConfig c = read(LLAMA + ", \"torch_dtype\": \"bfloat16\", \"rope_theta\": 500000.0");
    assertThat(c.rope().theta()).isEqualTo(500000.0);
    assertThat(c.headDim()).isEqualTo(64);
    assertThat(c.kvHeads()).isEqualTo(8);
    assertThat(c.tiedEmbeddings()).isTrue();
    assertThat(c.eosTokenId()).isEqualTo(128001);
  }

  @Test
  void unknownFieldThatCouldChangeTheMathIsRefusedByName() {
    refused(
        LLAMA + ", \"rope_theta\": 1e4, \"final_logit_softcapping\": 30.0",
        "'final_logit_softcapping'");
  }

  @Test
  void unknownRopeParameterIsRefusedByName() {
    refused(
        LLAMA
            + ", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1e4, \"mrope_section\": [1]}",
        "'rope_parameters.mrope_section'");
    refused(
        LLAMA + ", \"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 2.0}",
        "'rope_scaling.rope_type'",
        "longrope");
  }

  @Test
  void bothRopeLayoutsAtOnceAreRefused() {
    refused(
        LLAMA
            + ", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1e4},"
            + " \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}",
        "'rope_scaling'");
    refused(
        LLAMA
            + ", \"rope_theta\": 1e6, \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1e4}",
        "'rope_theta'");
  }

  @Test
  void valuesTheTrainerDoesNotComputeAreRefusedByName() {
    refused(
        LLAMA.replace("\"attention_dropout\": 0.0", "\"attention_dropout\": 0.1"),
        "'attention_dropout'");
    refused(LLAMA.replace("\"pretraining_tp\": 1", "\"pretraining_tp\": 2"), "'pretraining_tp'");
    refused(LLAMA.replace("\"silu\"", "\"gelu\""), "'hidden_act'");
    refused(LLAMA + ", \"partial_rotary_factor\": 0.5", "'partial_rotary_factor'");
  }

  @Test
  void llama3RopeScalingMatchesTransformers() throws IOException {
    ModelConfig c =
        read(
            LLAMA
                + """
                , "rope_theta": 500000.0, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0,
                "low_freq_factor": 1.0, "original_max_position_embeddings": 8192,
                "rope_type": "llama3"}""");
    float[] inv = c.rope().invFreq(64, c.maxPositions(), 16);
    int[] at = {0, 10, 15, 18, 20, 31};
    double[] expected = {
      1.0,
      0.016560440883040428,
      0.0012905480107292533,
      1.9461638657958247e-05,
      8.570255886297673e-06,
      9.418306490260875e-08
    };
    for (int i = 0; i < at.length; i++) {
      assertThat((double) inv[at[i]]).isCloseTo(expected[i], within(expected[i] * 1e-6));
    }
    assertThat(c.rope().attentionScaling()).isEqualTo(1f);
  }

  @Test
  void dynamicRopeEqualsDefaultWithinMaxPositionsAndStretchesBeyond() throws IOException {
    ModelConfig c =
        read(
            LLAMA
                + ", \"rope_theta\": 1e4, \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}");
    Rope plain = new Rope("default", 1e4, 1, java.util.Map.of());
    assertThat(c.rope().type()).isEqualTo("dynamic");
    assertThat(c.rope().invFreq(64, 1024, 1024)).containsExactly(plain.invFreq(64, 1024, 1024));
    // Beyond max_position_embeddings transformers stretches the base: theta·(f·T/max -
    // (f-1))^(d/(d-2)).
    double base = 1e4 * Math.pow(2.0 * 2048 / 1024 - 1, 64 / 62.0);
    assertThat((double) c.rope().invFreq(64, 1024, 2048)[16])
        .isCloseTo(Math.pow(base, -0.5), within(Math.pow(base, -0.5) * 1e-6));
  }

  @Test
  void yarnInTransformers5LayoutMatchesTransformers() throws IOException {
    ModelConfig c =
        read(
            LLAMA
                + """
                , "rope_parameters": {"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0,
                "original_max_position_embeddings": 32768}""");
    float[] inv = c.rope().invFreq(64, c.maxPositions(), 16);
    int[] at = {0, 5, 10, 15, 20, 31};
    double[] expected = {
      1.0,
      0.11547820270061493,
      0.01333521492779255,
      0.001026617712341249,
      4.4456985051510856e-05,
      3.8498163235090033e-07
    };
    for (int i = 0; i < at.length; i++) {
      assertThat((double) inv[at[i]]).isCloseTo(expected[i], within(expected[i] * 1e-6));
    }
    assertThat((double) c.rope().attentionScaling()).isCloseTo(1.138629436111989, within(1e-6));
  }

  @Test
  void qwen25UsesQkvBiasesAndNoSlidingWindowUnlessAskedFor() throws IOException {
    String qwen =
        """
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896,
        "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
        "max_window_layers": 2, "num_attention_heads": 14, "num_hidden_layers": 3,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
        "use_cache": true, "vocab_size": 151936""";
    ModelConfig c = read(qwen + ", \"use_sliding_window\": false");
    assertThat(c.qkvBias()).isTrue();
    assertThat(c.oBias()).isFalse();
    assertThat(c.headDim()).isEqualTo(64);
    assertThat(c.layerWindows()).containsExactly(0, 0, 0);
    assertThat(read(qwen + ", \"use_sliding_window\": true").layerWindows())
        .containsExactly(0, 0, 32768);
    assertThat(
            read(qwen
                    + ", \"use_sliding_window\": true, \"layer_types\": [\"sliding_attention\","
                    + " \"full_attention\", \"sliding_attention\"]")
                .layerWindows())
        .containsExactly(32768, 0, 32768);
    refused(qwen + ", \"attention_bias\": true", "'attention_bias'");
  }

  @Test
  void qwen3HasHeadDimOfItsOwnAndQkNorm() throws IOException {
    ModelConfig c =
        read(
            """
            "model_type": "qwen3", "attention_bias": false, "head_dim": 128, "hidden_size": 1024,
            "intermediate_size": 3072, "max_position_embeddings": 40960, "max_window_layers": 28,
            "num_attention_heads": 16, "num_hidden_layers": 2, "num_key_value_heads": 8,
            "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
            "use_sliding_window": false, "vocab_size": 151936, "tie_word_embeddings": true""");
    assertThat(c.headDim()).isEqualTo(128).isNotEqualTo(c.hidden() / c.heads());
    assertThat(c.qkNorm()).isTrue();
    assertThat(c.qkvBias()).isFalse();
    assertThat(c.layerWindows()).containsExactly(0, 0);
  }

  @Test
  void mistralSlidingWindowMasksEveryLayer() throws IOException {
    String mistral =
        """
        "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
        "max_position_embeddings": 32768, "num_attention_heads": 32, "num_hidden_layers": 2,
        "num_key_value_heads": 8, "rope_theta": 10000.0, "vocab_size": 32000""";
    assertThat(read(mistral + ", \"sliding_window\": 4096").layerWindows())
        .containsExactly(4096, 4096);
    assertThat(read(mistral + ", \"sliding_window\": null").layerWindows()).containsExactly(0, 0);
    refused(mistral + ", \"mlp_bias\": true", "'mlp_bias'");
  }

  @Test
  void phi3FusesProjectionsAndRefusesLongrope() throws IOException {
    String phi3 =
        """
        "_name_or_path": "Phi-3-mini-4k-instruct", "architectures": ["Phi3ForCausalLM"],
        "attention_dropout": 0.0, "auto_map": {"AutoConfig": "configuration_phi3.Phi3Config"},
        "bos_token_id": 1, "embd_pdrop": 0.0, "eos_token_id": 32000, "hidden_act": "silu",
        "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192,
        "max_position_embeddings": 4096, "model_type": "phi3", "num_attention_heads": 32,
        "num_hidden_layers": 2, "num_key_value_heads": 32, "original_max_position_embeddings": 4096,
        "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
        "sliding_window": 2047, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
        "transformers_version": "4.40.2", "use_cache": true, "vocab_size": 32064""";
    ModelConfig c = read(phi3 + ", \"rope_scaling\": null");
    assertThat(c.fusedProjections()).isTrue();
    assertThat(c.layerWindows()).containsExactly(2047, 2047);
    refused(phi3 + ", \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2.0}", "'rope_scaling'");
    refused(phi3.replace("\"resid_pdrop\": 0.0", "\"resid_pdrop\": 0.1"), "'resid_pdrop'");
  }

  @Test
  void gemma3TextAlternatesSlidingAndGlobalLayersWithTheirOwnRope() throws IOException {
    String gemma =
        """
        "architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
        "attn_logit_softcapping": null, "bos_token_id": 2, "cache_implementation": "hybrid",
        "eos_token_id": [1, 106], "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 1152, "initializer_range": 0.02, "intermediate_size": 6912,
        "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4,
        "num_hidden_layers": 7, "num_key_value_heads": 1, "pad_token_id": 0,
        "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
        "rope_scaling": null, "rope_theta": 1000000, "sliding_window": 512,
        "sliding_window_pattern": 6, "torch_dtype": "bfloat16", "use_cache": true,
        "vocab_size": 262144""";
    ModelConfig c = read(gemma + ", \"final_logit_softcapping\": null");
    assertThat(c.layerWindows()).containsExactly(512, 512, 512, 512, 512, 0, 512);
    assertThat(c.rope().theta()).isEqualTo(1e6);
    assertThat(c.localRope().theta()).isEqualTo(1e4);
    assertThat(c.attentionScale()).isEqualTo(1 / 16.0);
    assertThat(c.gemmaNorms()).isTrue();
    assertThat(c.gelu()).isTrue();
    assertThat(c.qkNorm()).isTrue();
    assertThat(c.tiedEmbeddings()).isTrue();
    refused(gemma + ", \"final_logit_softcapping\": 30.0", "'final_logit_softcapping'");
  }

  @Test
  void unsupportedModelTypeIsRefusedByName() {
    refused("\"model_type\": \"gemma2\", \"hidden_size\": 8", "gemma2", "gemma3_text");
  }
}
