package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.IntOrString;
import java.util.ArrayList;
import java.util.List;

/** Canary steps: how many of a target's ready pods each step puts on the new version. */
public final class RolloutSteps {
  private static final IntOrString FULL = new IntOrString("100%");

  private RolloutSteps() {}

  /** The steps as given, with the implied final 100% appended when the last one is not it. */
  public static List<IntOrString> normalize(List<IntOrString> steps) {
    List<IntOrString> result = new ArrayList<>(steps == null ? List.of() : steps);
    if (result.isEmpty() || !isFull(result.get(result.size() - 1))) {
      result.add(FULL);
    }
    return result;
  }

  /**
   * Pods a step covers out of {@code ready}: a count (capped at ready) or a percentage rounded up,
   * and at least one pod while any is ready, so a 10% step on 3 pods is a real canary of one.
   */
  public static int podsFor(IntOrString step, int ready) {
    if (ready <= 0) {
      return 0;
    }
    int pods;
    if (step.getIntVal() != null) {
      pods = step.getIntVal();
    } else {
      int percent = Integer.parseInt(step.getStrVal().replace("%", "").trim());
      pods = (int) Math.ceil(percent * ready / 100.0);
    }
    return Math.max(1, Math.min(ready, pods));
  }

  public static String describe(IntOrString step) {
    return step.getIntVal() != null
        ? step.getIntVal() + (step.getIntVal() == 1 ? " pod" : " pods")
        : step.getStrVal();
  }

  private static boolean isFull(IntOrString step) {
    return step.getStrVal() != null && step.getStrVal().trim().equals("100%");
  }
}
