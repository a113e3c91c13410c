package io.loraops.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code Synced} condition: whether the operator's last reconcile of an object succeeded (the
 * name and meaning Crossplane gives it). A reconcile that throws is retried by the framework with a
 * growing delay, forever; when it fails twice in a row, the error goes into {@code Synced} False
 * {@code ReconcileError} (and a Warning Event), so a reconcile that keeps failing (a version record
 * the API server refuses, a missing permission) is seen with {@code kubectl describe}, not only in
 * the operator's log. The next reconcile that succeeds sets it True again.
 */
public final class ReconcileErrors {
  public static final String SYNCED = "Synced";

  /**
   * Failed attempts in a row before the error is shown: one failure alone is usually a race (a 409
   * from a concurrent write) that the first retry resolves, and showing it would only flap.
   */
  public static final int SHOW_AFTER_FAILURES = 2;

  /** The longest wait between two retries of a failing reconcile ({@code @GradualRetry}). */
  public static final long MAX_RETRY_INTERVAL_SECONDS = 60;

  private static final int MAX_MESSAGE = 1024;

  private ReconcileErrors() {}

  /** What a successful reconcile writes. */
  public static Conditions.Desired synced() {
    return new Conditions.Desired(
        SYNCED, true, Reasons.RECONCILE_SUCCEEDED, "the last reconcile succeeded");
  }

  /** Whether the failure that made {@code failedInARow} failures in a row is shown. */
  public static boolean shown(int failedInARow) {
    return failedInARow >= SHOW_AFTER_FAILURES;
  }

  /**
   * {@code previous} with Synced set False with {@code error}: every other condition is left as the
   * last successful reconcile wrote it, since nothing new is known about them.
   */
  public static List<Condition> failing(
      List<Condition> previous, Exception error, Long generation, Instant now) {
    Conditions.Desired desired =
        new Conditions.Desired(
            SYNCED,
            false,
            Reasons.RECONCILE_ERROR,
            "reconciling keeps failing and is retried with a growing delay (at most "
                + MAX_RETRY_INTERVAL_SECONDS
                + " s apart): "
                + describe(error));
    List<Condition> result = new ArrayList<>();
    if (previous != null) {
      previous.stream().filter(c -> !SYNCED.equals(c.getType())).forEach(result::add);
    }
    result.addAll(Conditions.apply(previous, List.of(desired), generation, now));
    return result;
  }

  /** The error as a person can act on it: the API server's status code and message first. */
  static String describe(Exception error) {
    Throwable cause = error;
    while (!(cause instanceof KubernetesClientException) && cause.getCause() != null) {
      cause = cause.getCause();
    }
    String text;
    if (cause instanceof KubernetesClientException k && k.getStatus() != null) {
      text =
          "the API server answered "
              + k.getCode()
              + " ("
              + k.getStatus().getReason()
              + "): "
              + k.getStatus().getMessage();
    } else {
      text = error.getClass().getSimpleName() + ": " + error.getMessage();
    }
    return text.length() <= MAX_MESSAGE ? text : text.substring(0, MAX_MESSAGE) + "...";
  }
}
