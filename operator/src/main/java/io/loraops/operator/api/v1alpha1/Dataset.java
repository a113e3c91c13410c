package io.loraops.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import lombok.Data;

/** Training data and how to hold out evaluation data. */
@Data
@ValidationRule(
    value = "!(has(self.validationSplit) && has(self.validationUri))",
    message = "set dataset.validationSplit or dataset.validationUri, not both")
public class Dataset {

  @Required
  @Size(max = 2048)
  @ValidationRule(value = Uris.SUPPORTED, message = Uris.SUPPORTED_MESSAGE)
  @JsonPropertyDescription("JSONL file: pvc://<claim>/<path> or file:///<path>.")
  private String uri;

  @JsonPropertyDescription(
      "Line format: text ({\"text\"}), instruction ({\"instruction\",\"input\",\"output\"},"
          + " trained as a one-turn chat) or chat (OpenAI {\"messages\":[{\"role\",\"content\"}]})."
          + " Chats are rendered with the model's own chat template (tokenizer_config.json or"
          + " chat_template.jinja) and the loss is taken on assistant tokens only. Default text.")
  private DatasetFormat format = DatasetFormat.text;

  @Min(value = 0, inclusive = false)
  @Max(0.5)
  @JsonPropertyDescription(
      "Fraction of examples held out for evaluation when no validationUri is given. Default 0.1.")
  private Double validationSplit;

  @Size(max = 2048)
  @ValidationRule(value = Uris.SUPPORTED, message = Uris.SUPPORTED_MESSAGE)
  @JsonPropertyDescription("Optional separate JSONL file for evaluation.")
  private String validationUri;

  /** JSONL line formats the trainer reads. */
  public enum DatasetFormat {
    text,
    instruction,
    chat
  }
}
