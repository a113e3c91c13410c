package io.loraops.nodeagent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ResourcesTest {

  Map<String, Quantity> node = Resources.parseCapacity("cpu=2,memory=16Gi,nvidia.com/gpu=1,pods=3");
  Map<String, String> labels = Map.of("kubernetes.io/hostname", "local-node");

  @Test
  void fitsUntilAResourceRunsOut() {
    Pod gpuPod = pod("1", "4Gi", "1");
    assertThat(Resources.whyNotFit(gpuPod, List.of(), node, labels)).isNull();
    assertThat(Resources.whyNotFit(gpuPod, List.of(gpuPod), node, labels))
        .isEqualTo("0/1 nodes are available: 1 Insufficient nvidia.com/gpu.");
    assertThat(Resources.whyNotFit(pod("500m", "1Gi", null), List.of(gpuPod), node, labels))
        .isNull();
    assertThat(Resources.whyNotFit(pod("1500m", "1Gi", null), List.of(gpuPod), node, labels))
        .isEqualTo("0/1 nodes are available: 1 Insufficient cpu.");
  }

  @Test
  void podCountAndNodeSelectorAreHonoured() {
    Pod small = pod("100m", "10Mi", null);
    assertThat(Resources.whyNotFit(small, List.of(small, small, small), node, labels))
        .contains("Too many pods");
    Pod selective =
        new PodBuilder(small).editSpec().withNodeSelector(Map.of("gpu", "h100")).endSpec().build();
    assertThat(Resources.whyNotFit(selective, List.of(), node, labels)).contains("didn't match");
  }

  @Test
  void capacityMustBeNameEqualsQuantity() {
    assertThatThrownBy(() -> Resources.parseCapacity("cpu:2")).hasMessageContaining("'cpu:2'");
  }

  private static Pod pod(String cpu, String memory, String gpus) {
    Map<String, Quantity> limits =
        new java.util.HashMap<>(Map.of("cpu", new Quantity(cpu), "memory", new Quantity(memory)));
    if (gpus != null) {
      limits.put("nvidia.com/gpu", new Quantity(gpus));
    }
    return new PodBuilder()
        .withNewMetadata()
        .withName("p")
        .endMetadata()
        .withNewSpec()
        .addNewContainer()
        .withName("c")
        .withNewResources()
        .withLimits(limits)
        .endResources()
        .endContainer()
        .endSpec()
        .build();
  }
}
