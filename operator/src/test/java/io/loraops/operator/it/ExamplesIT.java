package io.loraops.operator.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every manifest in examples/ starts with its three-line comment and is accepted by the API server.
 */
class ExamplesIT {

  @Test
  void everyExampleIsDocumentedAndAppliesCleanly() throws Exception {
    String namespace = ControlPlane.newNamespace("examples");
    List<Path> examples;
    try (Stream<Path> files = Files.list(ControlPlane.REPO.resolve("examples"))) {
      examples = files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
    }
    assertThat(examples).isNotEmpty();
    for (Path example : examples) {
      List<String> head = Files.readAllLines(example).subList(0, 3);
      assertThat(head.get(0)).as(example + " line 1").startsWith("# Purpose: ");
      assertThat(head.get(1)).as(example + " line 2").startsWith("# Prerequisites: ");
      assertThat(head.get(2)).as(example + " line 3").startsWith("# Expected end state: ");
      assertThat(
              ControlPlane.kubectl(
                  "apply", "--dry-run=server", "-n", namespace, "-f", example.toString()))
          .as(example.toString())
          .contains("(server dry run)");
    }
  }
}
