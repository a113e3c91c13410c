package io.loraops.trainer.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Deterministic micro-batches: epoch e visits the examples in an order shuffled by {@code seed +
 * e}; micro-batch number k (counted from the start of training) is a pure function of k, which
 * makes the data position of a checkpoint just a number. The last, smaller batch of an epoch is
 * kept.
 */
public final class Batches {
  /**
   * One padded micro-batch.
   *
   * @param ids [rows, length] token ids, right-padded
   * @param targets [rows, length] next-token targets (ids shifted left), IGNORE where no loss
   * @param tokens non-padding input tokens
   * @param lossTokens targets that count towards the loss
   */
  public record Batch(
      long[] ids, long[] targets, int rows, int length, int tokens, int lossTokens) {}

  private final List<Example> examples;
  private final int batchSize;
  private final long seed;
  private final int padId;
  private final boolean shuffle;
  private int cachedEpoch = -1;
  private List<Integer> order;

  public Batches(List<Example> examples, int batchSize, long seed, int padId, boolean shuffle) {
    this.examples = examples;
    this.batchSize = batchSize;
    this.seed = seed;
    this.padId = padId;
    this.shuffle = shuffle;
  }

  public int perEpoch() {
    return (examples.size() + batchSize - 1) / batchSize;
  }

  /** Micro-batch number {@code k} since the start of training. */
  public Batch get(long k) {
    int epoch = (int) (k / perEpoch());
    int pos = (int) (k % perEpoch());
    if (epoch != cachedEpoch) {
      order = new ArrayList<>();
      for (int i = 0; i < examples.size(); i++) {
        order.add(i);
      }
      if (shuffle) {
        Collections.shuffle(order, new Random(seed + epoch));
      }
      cachedEpoch = epoch;
    }
    List<Example> rows = new ArrayList<>();
    for (int i = pos * batchSize; i < Math.min(examples.size(), (pos + 1) * batchSize); i++) {
      rows.add(examples.get(order.get(i)));
    }
    return pad(rows, padId);
  }

  /** Right-pads to the longest row; targets[t] = labels[t+1]. */
  public static Batch pad(List<Example> rows, int padId) {
    int len = rows.stream().mapToInt(e -> e.ids().length).max().orElse(1);
    long[] ids = new long[rows.size() * len];
    long[] targets = new long[rows.size() * len];
    int tokens = 0;
    int loss = 0;
    for (int r = 0; r < rows.size(); r++) {
      Example e = rows.get(r);
      for (int t = 0; t < len; t++) {
        int at = r * len + t;
        ids[at] = t < e.ids().length ? e.ids()[t] : padId;
        targets[at] = t + 1 < e.ids().length ? e.labels()[t + 1] : Example.IGNORE;
        if (t < e.ids().length) {
          tokens++;
        }
        if (targets[at] != Example.IGNORE) {
          loss++;
        }
      }
    }
    return new Batch(ids, targets, rows.size(), len, tokens, loss);
  }

  /** All examples in file order, batched, for evaluation. */
  public static List<Batch> sequential(List<Example> examples, int batchSize, int padId) {
    List<Batch> out = new ArrayList<>();
    for (int i = 0; i < examples.size(); i += batchSize) {
      out.add(pad(examples.subList(i, Math.min(examples.size(), i + batchSize)), padId));
    }
    return out;
  }
}
