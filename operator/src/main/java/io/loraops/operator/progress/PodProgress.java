package io.loraops.operator.progress;

import io.loraops.contract.ProgressEvent;
import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * What one trial pod's progress lines said so far. Immutable; {@link #fold} is pure and idempotent
 * (a line read twice, as incremental reads at one-second granularity do, changes nothing), so the
 * state can always be rebuilt by reading the log again from its start.
 *
 * @param step latest optimizer step reported (0 before the first)
 * @param evals eval loss by step
 * @param evaluatedAt kubelet timestamp of each evaluation's line, by step (the first one seen)
 * @param lastLineAt kubelet timestamp of the newest line read (where the next read starts)
 */
public record PodProgress(
    long step,
    Long totalSteps,
    Double trainLoss,
    Double tokensPerSecond,
    Double elapsedSeconds,
    NavigableMap<Long, Double> evals,
    NavigableMap<Long, Instant> evaluatedAt,
    Instant lastLineAt) {

  public static final PodProgress EMPTY =
      new PodProgress(
          0,
          null,
          null,
          null,
          null,
          Collections.emptyNavigableMap(),
          Collections.emptyNavigableMap(),
          null);

  public PodProgress {
    evals = Collections.unmodifiableNavigableMap(new TreeMap<>(evals));
    evaluatedAt = Collections.unmodifiableNavigableMap(new TreeMap<>(evaluatedAt));
  }

  public PodProgress fold(List<ProgressLines.Line> lines) {
    long step = this.step;
    Long total = totalSteps;
    Double loss = trainLoss;
    Double tps = tokensPerSecond;
    Double elapsed = elapsedSeconds;
    TreeMap<Long, Double> evals = new TreeMap<>(this.evals);
    TreeMap<Long, Instant> evaluatedAt = new TreeMap<>(this.evaluatedAt);
    Instant last = lastLineAt;
    for (ProgressLines.Line line : lines) {
      ProgressEvent e = line.event();
      if (line.at() != null && (last == null || line.at().isAfter(last))) {
        last = line.at();
      }
      if (e.totalSteps() > 0) {
        total = e.totalSteps();
      }
      switch (e.event()) {
        case "step" -> {
          if (e.step() >= step) {
            step = e.step();
            loss = e.loss();
            tps = e.tokensPerSecond();
            elapsed = e.elapsedSeconds() == null ? elapsed : e.elapsedSeconds();
          }
        }
        case "eval" -> {
          if (e.loss() != null) {
            evals.put(e.step(), e.loss());
            if (line.at() != null) {
              evaluatedAt.merge(e.step(), line.at(), (a, b) -> a.isBefore(b) ? a : b);
            }
          }
          step = Math.max(step, e.step());
        }
        default -> step = Math.max(step, e.step());
      }
    }
    return new PodProgress(step, total, loss, tps, elapsed, evals, evaluatedAt, last);
  }
}
