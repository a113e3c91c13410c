package io.loraops.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraops.trainer.TrainerException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The allow-list behind {@link ModelConfig#read}: one JSON object of a {@code config.json} whose
 * fields are each either read (and so implemented), accepted as harmless, or pinned to the one
 * value the trainer computes with. {@link #refuseRest} then refuses every field nobody claimed, by
 * name: a field the trainer does not know may change the computation, and silently ignoring one (as
 * transformers 5's {@code rope_parameters} once was) gives wrong logits without an error.
 */
final class ConfigFields {
  /**
   * Fields of any config that do not change the forward pass or training: metadata, token ids (read
   * separately), generation defaults of older configs, and flags for other heads or outputs.
   */
  static final Set<String> HARMLESS =
      Set.of(
          "architectures",
          "model_type",
          "_name_or_path",
          // Remote code for hub checkpoints of a model_type transformers implements itself; the
          // reference (and vLLM) compute with the built-in class.
          "auto_map",
          "transformers_version",
          "torch_dtype", // transformers 4; weights are read as stored and computed in float32
          "dtype", // transformers 5
          "bos_token_id",
          "eos_token_id",
          "pad_token_id",
          "sep_token_id",
          "decoder_start_token_id",
          "use_cache",
          "initializer_range",
          "id2label",
          "label2id",
          "problem_type",
          "finetuning_task",
          "task_specific_params",
          "tokenizer_class",
          "return_dict",
          "output_attentions",
          "output_hidden_states",
          "torchscript",
          "prefix",
          "max_length",
          "min_length",
          "do_sample",
          "temperature",
          "top_k",
          "top_p",
          "num_beams",
          "repetition_penalty",
          "length_penalty",
          "no_repeat_ngram_size",
          "early_stopping",
          "num_return_sequences",
          "bad_words_ids",
          "typical_p",
          "chunk_size_feed_forward",
          "is_decoder",
          "is_encoder_decoder",
          "add_cross_attention",
          "tie_encoder_decoder",
          "cross_attention_hidden_size",
          "pruned_heads",
          "tf_legacy_loss",
          "use_bfloat16");

  private final JsonNode node;
  private final Path file;
  private final String prefix; // "" for the top level, "rope_parameters." inside that object
  private final Set<String> claimed = new LinkedHashSet<>();

  ConfigFields(JsonNode node, Path file, String prefix) {
    this.node = node;
    this.file = file;
    this.prefix = prefix;
  }

  Path file() {
    return file;
  }

  boolean has(String field) {
    return node.hasNonNull(field);
  }

  JsonNode get(String field) {
    claimed.add(field);
    return node.path(field);
  }

  /** A positive integer the model cannot do without. */
  int positive(String field) {
    JsonNode v = get(field);
    if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() <= 0) {
      throw bad(field, "is missing or not a positive integer");
    }
    return v.asInt();
  }

  /** A positive integer, or {@code fallback} when absent or null. */
  int positive(String field, int fallback) {
    return has(field) ? positive(field) : claim(field, fallback);
  }

  double number(String field, double fallback) {
    JsonNode v = get(field);
    if (v.isMissingNode() || v.isNull()) {
      return fallback;
    }
    if (!v.isNumber()) {
      throw bad(field, "must be a number, got " + v);
    }
    return v.asDouble();
  }

  boolean bool(String field, boolean fallback) {
    JsonNode v = get(field);
    if (v.isMissingNode() || v.isNull()) {
      return fallback;
    }
    if (!v.isBoolean()) {
      throw bad(field, "must be true or false, got " + v);
    }
    return v.asBoolean();
  }

  String text(String field, String fallback) {
    JsonNode v = get(field);
    return v.isMissingNode() || v.isNull() ? fallback : v.asText();
  }

  /**
   * Accepts {@code field} only when absent, null or equal to one of {@code allowed} (the values the
   * trainer computes with); any other value is refused, naming what would be needed.
   */
  void only(String field, String why, Object... allowed) {
    JsonNode v = get(field);
    if (v.isMissingNode() || v.isNull()) {
      return;
    }
    for (Object a : allowed) {
      boolean same =
          a instanceof Number n
              ? v.isNumber() && v.asDouble() == n.doubleValue()
              : a instanceof Boolean b ? v.isBoolean() && v.asBoolean() == b : v.asText().equals(a);
      if (same) {
        return;
      }
    }
    List<String> values = new ArrayList<>();
    for (Object a : allowed) {
      values.add(String.valueOf(a));
    }
    throw bad(
        field,
        v
            + " is not supported ("
            + why
            + "); supported: "
            + (values.isEmpty() ? "null" : String.join(", ", values)));
  }

  /** Marks fields as read elsewhere or harmless. */
  void accept(Iterable<String> fields) {
    fields.forEach(claimed::add);
  }

  /** Refuses the first field (in name order) that no reader claimed; {@code context} says where. */
  void refuseRest(String context) {
    Set<String> rest = new TreeSet<>();
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!claimed.contains(f)) {
        rest.add(f);
      }
    }
    if (!rest.isEmpty()) {
      throw TrainerException.badConfig(
          file
              + ": field '"
              + prefix
              + rest.iterator().next()
              + "' is not supported for "
              + context
              + (rest.size() > 1 ? " (all unsupported fields: " + rest + ")" : "")
              + "; the trainer refuses what it does not implement rather than compute something"
              + " other than transformers does");
    }
  }

  TrainerException bad(String field, String what) {
    return TrainerException.badConfig(file + ": field '" + prefix + field + "' " + what);
  }

  private int claim(String field, int value) {
    claimed.add(field);
    return value;
  }
}
