package io.loraops.operator.progress;

import java.time.Instant;

/** Reads a container's log; the seam between {@link ProgressPoller} and the pod log API. */
public interface PodLogs {

  /**
   * The log of a running or finished container, each line prefixed with the kubelet's timestamp.
   *
   * @param since only lines from this second on (null: from the start)
   * @param limitBytes at most this many bytes (the oldest first)
   * @return the text, or null when the pod or its log is gone (a read that cannot work again)
   * @throws RuntimeException for failures worth retrying at the next poll
   */
  String read(String namespace, String pod, String container, Instant since, int limitBytes);
}
