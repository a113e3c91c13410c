package io.loraops.trainer.lora;

import io.loraops.trainer.TrainerException;
import io.loraops.trainer.model.CausalLM;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * Puts adapters on the linear layers named by {@code target_modules}, matching as PEFT does: a
 * target matches a module whose path equals it or ends with {@code "." + target}; {@code
 * all-linear} matches every linear layer except the LM head (which is not a {@link LoraLinear}
 * here).
 */
public final class LoraInjector {
  public static final String ALL_LINEAR = "all-linear";

  private LoraInjector() {}

  /** The layers {@code targets} select, in model order; an unmatched target is a bad config. */
  public static List<LoraLinear> select(CausalLM model, List<String> targets) {
    return select(model, targets, "lora.targetModules");
  }

  /** As {@link #select(CausalLM, List)}; errors name the targets {@code field}. */
  public static List<LoraLinear> select(CausalLM model, List<String> targets, String field) {
    List<LoraLinear> all = new ArrayList<>(model.linears().values());
    if (targets.size() == 1 && targets.get(0).equals(ALL_LINEAR)) {
      return all;
    }
    Set<LoraLinear> chosen = new LinkedHashSet<>();
    for (String target : targets) {
      boolean hit = false;
      for (LoraLinear l : all) {
        if (l.path().equals(target) || l.path().endsWith("." + target)) {
          chosen.add(l);
          hit = true;
        }
      }
      if (!hit) {
        Set<String> names = new TreeSet<>();
        all.forEach(l -> names.add(l.shortName()));
        throw TrainerException.badConfig(
            field
                + ": '"
                + target
                + "' matches no linear layer of this "
                + model.config().family()
                + " model; available: "
                + String.join(", ", names)
                + ", or "
                + ALL_LINEAR);
      }
    }
    List<LoraLinear> ordered = new ArrayList<>();
    for (LoraLinear l : all) {
      if (chosen.contains(l)) {
        ordered.add(l);
      }
    }
    return ordered;
  }

  /** Adds fresh adapters (A from {@code seed}, B zeros) and returns the adapted layers. */
  public static List<LoraLinear> inject(CausalLM model, LoraSpec spec, long seed) {
    List<LoraLinear> layers = select(model, spec.targetModules());
    SplittableRandom random = new SplittableRandom(seed);
    for (LoraLinear l : layers) {
      l.addAdapter(spec.rank(), spec.alpha(), spec.rsLora(), spec.dropout(), random);
    }
    return layers;
  }

  /**
   * Makes every layer apply the named inference adapter {@code name} in forward passes (null:
   * none); layers the adapter does not target stay the base. See {@link LoraLinear#activate}.
   */
  public static void activate(CausalLM model, String name) {
    for (LoraLinear l : model.linears().values()) {
      l.activate(name);
    }
  }

  /** The short names of {@code layers}, sorted: what adapter_config.json lists. */
  public static List<String> shortNames(List<LoraLinear> layers) {
    Set<String> names = new TreeSet<>();
    layers.forEach(l -> names.add(l.shortName()));
    return new ArrayList<>(names);
  }
}
