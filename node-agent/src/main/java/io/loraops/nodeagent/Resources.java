package io.loraops.nodeagent;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import java.math.BigDecimal;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Resource arithmetic for the agent's small scheduler. Pure. */
final class Resources {
  private Resources() {}

  /** Parses {@code cpu=2,memory=16Gi,nvidia.com/gpu=4,pods=32}. */
  static Map<String, Quantity> parseCapacity(String spec) {
    Map<String, Quantity> capacity = new TreeMap<>();
    for (String part : spec.split(",")) {
      String[] kv = part.trim().split("=", 2);
      if (kv.length != 2) {
        throw new IllegalArgumentException("capacity entry '" + part + "' is not name=quantity");
      }
      capacity.put(kv[0], new Quantity(kv[1]));
    }
    return capacity;
  }

  /** The pod's requests (limits where no request is given, as the API server defaults them). */
  static Map<String, BigDecimal> requests(Pod pod) {
    Map<String, BigDecimal> total = new HashMap<>();
    for (Container c : pod.getSpec().getContainers()) {
      Map<String, Quantity> amounts = new HashMap<>();
      if (c.getResources() != null && c.getResources().getLimits() != null) {
        amounts.putAll(c.getResources().getLimits());
      }
      if (c.getResources() != null && c.getResources().getRequests() != null) {
        amounts.putAll(c.getResources().getRequests());
      }
      amounts.forEach((name, q) -> total.merge(name, q.getNumericalAmount(), BigDecimal::add));
    }
    total.merge("pods", BigDecimal.ONE, BigDecimal::add);
    return total;
  }

  /**
   * Why {@code pod} does not fit next to {@code running} on a node with {@code allocatable}, in the
   * scheduler's words; null if it fits.
   */
  static String whyNotFit(
      Pod pod,
      List<Pod> running,
      Map<String, Quantity> allocatable,
      Map<String, String> nodeLabels) {
    Map<String, String> selector = pod.getSpec().getNodeSelector();
    if (selector != null) {
      for (Map.Entry<String, String> e : selector.entrySet()) {
        if (!e.getValue().equals(nodeLabels.get(e.getKey()))) {
          return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.";
        }
      }
    }
    Map<String, BigDecimal> used = new HashMap<>();
    for (Pod p : running) {
      requests(p).forEach((k, v) -> used.merge(k, v, BigDecimal::add));
    }
    for (Map.Entry<String, BigDecimal> want : requests(pod).entrySet()) {
      Quantity capacity = allocatable.get(want.getKey());
      BigDecimal free =
          (capacity == null ? BigDecimal.ZERO : capacity.getNumericalAmount())
              .subtract(used.getOrDefault(want.getKey(), BigDecimal.ZERO));
      if (want.getValue().compareTo(free) > 0) {
        return want.getKey().equals("pods")
            ? "0/1 nodes are available: 1 Too many pods."
            : "0/1 nodes are available: 1 Insufficient " + want.getKey() + ".";
      }
    }
    return null;
  }
}
