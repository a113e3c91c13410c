package io.loraops.operator.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.crdv2.generator.CRDGenerator;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.loraops.operator.api.v1alpha1.LoraAdapter;
import io.loraops.operator.api.v1alpha1.LoraJob;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The committed CRDs ({@code crds/} and the Helm chart's copy) are generated from the Java model
 * and must match it exactly. {@code make crds} rewrites them (it runs this test with {@code
 * -Dcrds.update=true}); anywhere else a difference fails the build.
 */
class CrdFilesTest {

  static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  static final List<Path> COPIES =
      List.of(ROOT.resolve("crds"), ROOT.resolve("charts/lora-operator/crds"));

  @ParameterizedTest
  @ValueSource(classes = {LoraJob.class, LoraAdapter.class})
  void committedCrdsMatchTheModel(Class<?> resource) throws Exception {
    String generated = generate(resource);
    String file = crdName(resource) + ".yaml";
    for (Path dir : COPIES) {
      Path target = dir.resolve(file);
      if (Boolean.getBoolean("crds.update")) {
        Files.createDirectories(dir);
        Files.writeString(target, generated, StandardCharsets.UTF_8);
      }
      assertThat(target).as("%s is missing: run `make crds`", target).exists();
      assertThat(Files.readString(target, StandardCharsets.UTF_8))
          .as("%s differs from the model: run `make crds` and commit the result", target)
          .isEqualTo(generated);
    }
  }

  static String crdName(Class<?> resource) {
    return resource == LoraJob.class ? "lorajobs.loraops.io" : "loraadapters.loraops.io";
  }

  static String generate(Class<?> resource) throws Exception {
    Path out = Files.createTempDirectory("crds");
    new CRDGenerator()
        .customResourceClasses(
            resource.asSubclass(io.fabric8.kubernetes.client.CustomResource.class))
        .forCRDVersions("v1")
        .inOutputDir(out.toFile())
        .generate();
    Path yaml = out.resolve(crdName(resource) + "-v1.yml");
    CustomResourceDefinition crd =
        Serialization.unmarshal(Files.readString(yaml), CustomResourceDefinition.class);
    keepDeclaredColumnOrder(crd, resource);
    boundStringsForCelCost(crd.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema());
    return "# Generated from operator/src/main/java/io/loraops/operator/api/v1alpha1 by `make crds`."
        + " Do not edit.\n"
        + Serialization.asYaml(crd);
  }

  /**
   * The API server estimates each CEL rule's worst-case cost from the declared bounds and refuses a
   * CRD whose rules could be too expensive; a string without maxLength counts as megabytes. The
   * generator gives enum strings and string-list items no maxLength, so bound them here: an enum by
   * its longest value, a list item by 253 (a Kubernetes name), an int-or-string item by 8.
   */
  private static void boundStringsForCelCost(JSONSchemaProps schema) {
    if (schema == null) {
      return;
    }
    if ("string".equals(schema.getType())
        && schema.getEnum() != null
        && !schema.getEnum().isEmpty()
        && schema.getMaxLength() == null) {
      schema.setMaxLength(
          schema.getEnum().stream().mapToLong(e -> e.asText().length()).max().orElse(0));
    }
    JSONSchemaProps items = schema.getItems() == null ? null : schema.getItems().getSchema();
    if (items != null && "string".equals(items.getType()) && items.getMaxLength() == null) {
      items.setMaxLength(253L);
    }
    if (items != null
        && Boolean.TRUE.equals(items.getXKubernetesIntOrString())
        && items.getMaxLength() == null) {
      items.setMaxLength(8L); // an int-or-string list item is a count or a percentage: "100%"
    }
    boundStringsForCelCost(items);
    if (schema.getProperties() != null) {
      schema.getProperties().values().forEach(CrdFilesTest::boundStringsForCelCost);
    }
    if (schema.getAdditionalProperties() != null) {
      boundStringsForCelCost(schema.getAdditionalProperties().getSchema());
    }
  }

  /**
   * The generator sorts printer columns by JSONPath; kubectl shows them in list order, and Age
   * belongs last. The order declared on the class is the intended one.
   */
  private static void keepDeclaredColumnOrder(CustomResourceDefinition crd, Class<?> resource) {
    List<String> declared =
        Arrays.stream(resource.getAnnotationsByType(AdditionalPrinterColumn.class))
            .map(AdditionalPrinterColumn::name)
            .toList();
    var version = crd.getSpec().getVersions().get(0);
    List<CustomResourceColumnDefinition> columns =
        new ArrayList<>(version.getAdditionalPrinterColumns());
    columns.sort(
        (a, b) -> Integer.compare(declared.indexOf(a.getName()), declared.indexOf(b.getName())));
    version.setAdditionalPrinterColumns(columns);
  }
}
