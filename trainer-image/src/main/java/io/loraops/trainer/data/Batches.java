package io.loraops.trainer.data;

import io.loraops.trainer.model.Packed;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Deterministic micro-batches: epoch e visits the rows in an order shuffled by {@code seed + e};
 * micro-batch number k (counted from the start of training) is a pure function of k, which makes
 * the data position of a checkpoint just a number. The last, smaller batch of an epoch is kept.
 *
 * <p>A row is one example, or with packing ({@link #packed}) several examples one after another up
 * to the sequence length: rows are packed once, in file order, and then shuffled like examples, so
 * the number of rows per epoch never changes.
 */
public final class Batches {
  /**
   * One padded micro-batch.
   *
   * @param ids [rows, length] token ids, right-padded
   * @param targets [rows, length] next-token targets (ids shifted left within each example), IGNORE
   *     where no loss is taken
   * @param tokens non-padding input tokens
   * @param lossTokens targets that count towards the loss
   * @param packed where each token sits when rows hold several examples; null: one per row
   */
  public record Batch(
      long[] ids,
      long[] targets,
      int rows,
      int length,
      int tokens,
      int lossTokens,
      Packed packed) {}

  private final List<List<Example>> examples; // the rows: one example each, or packed
  private final int batchSize;
  private final long seed;
  private final int padId;
  private final boolean shuffle;
  private int cachedEpoch = -1;
  private List<Integer> order;

  private final boolean packing;

  public Batches(List<Example> examples, int batchSize, long seed, int padId, boolean shuffle) {
    this(examples.stream().map(List::of).toList(), batchSize, seed, padId, shuffle, false);
  }

  private Batches(
      List<List<Example>> rows,
      int batchSize,
      long seed,
      int padId,
      boolean shuffle,
      boolean packing) {
    this.examples = rows;
    this.packing = packing;
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
    List<List<Example>> rows = new ArrayList<>();
    for (int i = pos * batchSize; i < Math.min(examples.size(), (pos + 1) * batchSize); i++) {
      rows.add(examples.get(order.get(i)));
    }
    return packing ? packRows(rows, padId) : pad(rows.stream().map(r -> r.get(0)).toList(), padId);
  }

  /**
   * Shuffled micro-batches of {@code batchSize} rows, each row holding as many whole examples, in
   * file order, as fit in {@code length} tokens ({@link #pack}).
   */
  public static Batches packed(
      List<Example> examples, int length, int batchSize, long seed, int padId) {
    return new Batches(pack(examples, length), batchSize, seed, padId, true, true);
  }

  /**
   * Greedy packing in file order: an example goes into the current row if it fits in the {@code
   * length} tokens left, else starts a new row. Examples are never split (the dataset has already
   * cut each to the sequence length).
   */
  public static List<List<Example>> pack(List<Example> examples, int length) {
    List<List<Example>> rows = new ArrayList<>();
    List<Example> row = new ArrayList<>();
    int used = 0;
    for (Example e : examples) {
      if (!row.isEmpty() && used + e.ids().length > length) {
        rows.add(row);
        row = new ArrayList<>();
        used = 0;
      }
      row.add(e);
      used += e.ids().length;
    }
    if (!row.isEmpty()) {
      rows.add(row);
    }
    return rows;
  }

  /**
   * Rows of several examples each, right-padded to the longest: each example's targets are its own
   * labels shifted left (its last token predicts nothing, never the next example's first), its
   * positions restart at 0, and {@link Packed} keeps its tokens from attending to other examples.
   */
  public static Batch packRows(List<List<Example>> rows, int padId) {
    int len =
        rows.stream().mapToInt(r -> r.stream().mapToInt(e -> e.ids().length).sum()).max().orElse(1);
    long[] ids = new long[rows.size() * len];
    long[] targets = new long[rows.size() * len];
    long[] positions = new long[rows.size() * len];
    int[] documents = new int[rows.size() * len];
    java.util.Arrays.fill(ids, padId);
    java.util.Arrays.fill(targets, Example.IGNORE);
    java.util.Arrays.fill(documents, Packed.PADDING);
    int tokens = 0;
    int loss = 0;
    for (int r = 0; r < rows.size(); r++) {
      int at = r * len;
      for (int d = 0; d < rows.get(r).size(); d++) {
        Example e = rows.get(r).get(d);
        for (int t = 0; t < e.ids().length; t++, at++) {
          ids[at] = e.ids()[t];
          targets[at] = t + 1 < e.ids().length ? e.labels()[t + 1] : Example.IGNORE;
          positions[at] = t;
          documents[at] = d;
          tokens++;
          if (targets[at] != Example.IGNORE) {
            loss++;
          }
        }
      }
    }
    return new Batch(
        ids, targets, rows.size(), len, tokens, loss, new Packed(positions, documents));
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
    return new Batch(ids, targets, rows.size(), len, tokens, loss, null);
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
