package io.loraops.operator.it;

import io.fabric8.kubernetes.client.KubernetesClientException;
import java.net.HttpURLConnection;

/**
 * Test writes of objects that something else writes too (the operator, the Job and ReplicaSet
 * controllers, the garbage collector). An {@code edit} or {@code editStatus} carries the
 * resourceVersion it read, so it fails with 409 Conflict when another writer got in between, which
 * a busy machine makes likely. Every such test edit goes through {@link #retry}: it reads the
 * object again and re-applies the change, as a person running {@code kubectl edit} would. Writes
 * that cannot conflict (merge patches without a resourceVersion, server-side apply with force) need
 * it not.
 */
final class Conflicts {
  /** Enough for any race in a test; a write that still conflicts then is a real bug. */
  static final int ATTEMPTS = 20;

  private Conflicts() {}

  /** Runs {@code edit} (a read-modify-write) until it does not conflict. */
  static void retry(Runnable edit) {
    for (int attempt = 1; ; attempt++) {
      try {
        edit.run();
        return;
      } catch (KubernetesClientException e) {
        if (e.getCode() != HttpURLConnection.HTTP_CONFLICT || attempt == ATTEMPTS) {
          throw e;
        }
      }
    }
  }
}
