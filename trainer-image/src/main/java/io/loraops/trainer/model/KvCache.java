package io.loraops.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

/**
 * The keys and values of the positions a generation has already run, per layer, so that each new
 * token runs through the model alone instead of the whole sequence again (the prompt once, then one
 * position per step). Keys are kept after RoPE and before grouped-query repetition: [B, kvHeads, S,
 * hd].
 *
 * <p>The tensors live in the cache's own manager, outside the per-step scopes that free everything
 * else; {@link #close} frees them.
 */
public final class KvCache implements AutoCloseable {
  private final NDManager manager;
  private final NDArray[] keys;
  private final NDArray[] values;
  private int length;

  public KvCache(NDManager parent, int layers) {
    this.manager = parent.newSubManager();
    this.keys = new NDArray[layers];
    this.values = new NDArray[layers];
  }

  /** Positions already cached: where the next tokens' positions start. */
  public int length() {
    return length;
  }

  /**
   * Adds layer {@code layer}'s keys and values of the new positions, k and v [B, h, T, hd], and
   * returns the layer's keys and values over every position so far, [B, h, S + T, hd].
   */
  NDArray[] append(int layer, NDArray k, NDArray v) {
    keys[layer] = extend(keys[layer], k);
    values[layer] = extend(values[layer], v);
    return new NDArray[] {keys[layer], values[layer]};
  }

  /** Marks the {@code t} positions just appended to every layer as cached. */
  void advance(int t) {
    length += t;
  }

  private NDArray extend(NDArray cached, NDArray added) {
    // The first one is copied: it is a view of the step's q/k/v projection, which it would
    // otherwise keep alive whole.
    NDArray all = cached == null ? added.duplicate() : cached.concat(added, 2);
    NDScope.unregister(all); // survives the step's scope
    all.attach(manager);
    if (cached != null) {
      cached.close();
    }
    return all;
  }

  @Override
  public void close() {
    manager.close();
  }
}
