package io.loraops.operator.status;

import io.loraops.operator.api.v1alpha1.EarlyStoppingStatus;
import io.loraops.operator.api.v1alpha1.TrialProgress;
import io.loraops.operator.api.v1alpha1.TrialStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.OptionalDouble;

/**
 * The sweep-wide progress people read in {@code kubectl get lj}: percent of steps done, time left,
 * the running trials in one line, and what early stopping saved. Pure: no clock, so a status only
 * changes when a trial reports something new.
 */
public final class SweepProgress {

  /** Running trials named in {@code status.running}; the rest are counted. */
  static final int MAX_RUNNING_SHOWN = 4;

  /**
   * @param percentComplete steps done over steps planned, null when no step count is known yet
   * @param etaSeconds time until every trial ends, null until a trial measured its speed
   */
  public record Summary(
      Integer percentComplete, Long etaSeconds, String running, EarlyStoppingStatus earlyStopping) {

    public String eta() {
      return etaSeconds == null ? null : duration(etaSeconds);
    }
  }

  private SweepProgress() {}

  public static Summary summarize(List<TrialStatus> trials, int parallelism, int gpusPerTrial) {
    Long planned =
        trials.stream()
            .map(t -> t.getProgress() == null ? null : t.getProgress().getTotalSteps())
            .filter(Objects::nonNull)
            .max(Long::compare)
            .orElse(null);
    OptionalDouble secondsPerStep =
        trials.stream()
            .map(SweepProgress::secondsPerStep)
            .filter(Objects::nonNull)
            .mapToDouble(Double::doubleValue)
            .average();

    Integer percent = null;
    Long eta = null;
    boolean allEnded = trials.stream().allMatch(t -> TrialPhase.isTerminal(t.getPhase()));
    if (planned != null && planned > 0) {
      double done = 0;
      double workLeft = 0;
      double longest = 0;
      for (TrialStatus t : trials) {
        long total = total(t, planned);
        long step = TrialPhase.isTerminal(t.getPhase()) ? total : step(t);
        done += (double) step / total;
        double left = Math.max(0, total - step) * speed(t, secondsPerStep);
        workLeft += left;
        if (TrialPhase.holdsSlot(t.getPhase())) {
          longest = Math.max(longest, left);
        }
      }
      percent = (int) Math.floor(100 * done / trials.size());
      if (allEnded) {
        eta = 0L;
      } else if (secondsPerStep.isPresent()) {
        eta = Math.round(Math.max(longest, workLeft / Math.max(1, parallelism)));
      }
    }
    return new Summary(
        percent, allEnded ? null : eta, running(trials), earlyStopping(trials, gpusPerTrial));
  }

  private static String running(List<TrialStatus> trials) {
    List<String> parts = new ArrayList<>();
    int more = 0;
    for (TrialStatus t : trials) {
      if (!TrialPhase.RUNNING.equals(t.getPhase()) || t.getProgress() == null) {
        continue;
      }
      if (parts.size() == MAX_RUNNING_SHOWN) {
        more++;
        continue;
      }
      parts.add(describe(t.getName(), t.getProgress()));
    }
    if (more > 0) {
      parts.add("+" + more + " more");
    }
    return parts.isEmpty() ? null : String.join("; ", parts);
  }

  /** e.g. {@code t001 120/400 loss 2.31 eval 2.41 850 tok/s 3m10s left}. */
  static String describe(String name, TrialProgress p) {
    StringBuilder s = new StringBuilder(name).append(' ').append(p.getStep());
    if (p.getTotalSteps() != null) {
      s.append('/').append(p.getTotalSteps());
    }
    if (p.getTrainLoss() != null) {
      s.append(" loss ").append(fourDigits(p.getTrainLoss()));
    }
    if (p.getEvalLoss() != null) {
      s.append(" eval ").append(fourDigits(p.getEvalLoss()));
    }
    if (p.getTokensPerSecond() != null) {
      s.append(' ').append(Math.round(p.getTokensPerSecond())).append(" tok/s");
    }
    if (p.getEtaSeconds() != null) {
      s.append(' ').append(duration(p.getEtaSeconds())).append(" left");
    }
    return s.toString();
  }

  private static EarlyStoppingStatus earlyStopping(List<TrialStatus> trials, int gpus) {
    int stopped = 0;
    long steps = 0;
    double seconds = 0;
    for (TrialStatus t : trials) {
      if (!TrialPhase.EARLY_STOPPED.equals(t.getPhase()) || t.getProgress() == null) {
        continue;
      }
      stopped++;
      TrialProgress p = t.getProgress();
      long left = p.getTotalSteps() == null ? 0 : Math.max(0, p.getTotalSteps() - step(t));
      steps += left;
      Double speed = secondsPerStep(t);
      seconds += speed == null ? 0 : left * speed;
    }
    if (stopped == 0) {
      return null;
    }
    EarlyStoppingStatus s = new EarlyStoppingStatus();
    s.setStoppedTrials(stopped);
    s.setStepsSaved(steps);
    s.setTrialSecondsSaved(Math.round(seconds));
    s.setGpuSecondsSaved(Math.round(seconds * gpus));
    return s;
  }

  private static long total(TrialStatus t, long planned) {
    Long total = t.getProgress() == null ? null : t.getProgress().getTotalSteps();
    return total == null || total <= 0 ? planned : total;
  }

  private static long step(TrialStatus t) {
    Long step = t.getProgress() == null ? null : t.getProgress().getStep();
    return step == null ? 0 : step;
  }

  private static double speed(TrialStatus t, OptionalDouble average) {
    Double own = secondsPerStep(t);
    return own != null ? own : average.orElse(0);
  }

  private static Double secondsPerStep(TrialStatus t) {
    TrialProgress p = t.getProgress();
    if (p == null || p.getElapsedSeconds() == null || p.getStep() == null || p.getStep() <= 0) {
      return null;
    }
    return p.getElapsedSeconds() / p.getStep();
  }

  static String fourDigits(double x) {
    return String.format(Locale.ROOT, "%.4g", x);
  }

  /** 45s, 12m30s, 3h05m. */
  static String duration(long seconds) {
    if (seconds < 60) {
      return seconds + "s";
    }
    if (seconds < 3600) {
      return String.format(Locale.ROOT, "%dm%02ds", seconds / 60, seconds % 60);
    }
    return String.format(Locale.ROOT, "%dh%02dm", seconds / 3600, (seconds % 3600) / 60);
  }
}
