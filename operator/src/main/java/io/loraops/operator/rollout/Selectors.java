package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.loraops.operator.api.v1alpha1.ServingTarget;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Kubernetes label-selector semantics, for matching serving targets against Deployments. */
public final class Selectors {
  private Selectors() {}

  public static boolean matches(LabelSelector selector, Map<String, String> labels) {
    Map<String, String> have = labels == null ? Map.of() : labels;
    if (selector.getMatchLabels() != null) {
      for (var e : selector.getMatchLabels().entrySet()) {
        if (!e.getValue().equals(have.get(e.getKey()))) {
          return false;
        }
      }
    }
    if (selector.getMatchExpressions() != null) {
      for (LabelSelectorRequirement r : selector.getMatchExpressions()) {
        List<String> values = r.getValues() == null ? List.of() : r.getValues();
        boolean present = have.containsKey(r.getKey());
        boolean ok =
            switch (r.getOperator()) {
              case "In" -> present && values.contains(have.get(r.getKey()));
              case "NotIn" -> !present || !values.contains(have.get(r.getKey()));
              case "Exists" -> present;
              case "DoesNotExist" -> !present;
              default -> false;
            };
        if (!ok) {
          return false;
        }
      }
    }
    return true;
  }

  /** The selector in kubectl's {@code -l} syntax, for messages: {@code app=vllm,tier in (a,b)}. */
  public static String describe(LabelSelector selector) {
    List<String> parts = new ArrayList<>();
    if (selector.getMatchLabels() != null) {
      new TreeMap<>(selector.getMatchLabels()).forEach((k, v) -> parts.add(k + "=" + v));
    }
    if (selector.getMatchExpressions() != null) {
      for (LabelSelectorRequirement r : selector.getMatchExpressions()) {
        String values = r.getValues() == null ? "" : String.join(",", r.getValues());
        parts.add(
            switch (r.getOperator()) {
              case "In" -> r.getKey() + " in (" + values + ")";
              case "NotIn" -> r.getKey() + " notin (" + values + ")";
              case "Exists" -> r.getKey();
              case "DoesNotExist" -> "!" + r.getKey();
              default -> r.getKey() + " " + r.getOperator();
            });
      }
    }
    return parts.isEmpty() ? "{}" : String.join(",", parts);
  }

  /** Whether a Deployment with this name and these labels is one of the targets. */
  public static boolean targets(
      List<ServingTarget> targets, String deployment, Map<String, String> labels) {
    for (ServingTarget t : targets) {
      if (deployment.equals(t.getDeployment())
          || (t.getSelector() != null && matches(t.getSelector(), labels))) {
        return true;
      }
    }
    return false;
  }
}
