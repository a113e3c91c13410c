package io.loraops.trainer.report;

import io.loraops.contract.ContractJson;
import io.loraops.contract.ProgressEvent;
import java.io.PrintStream;

/** JSON progress lines on stdout, one {@link ProgressEvent} per line, for kubectl logs. */
public final class Progress {
  private final PrintStream out;

  public Progress(PrintStream out) {
    this.out = out;
  }

  public void emit(
      String event, long step, long total, Double loss, Double lr, Double tps, Double elapsed) {
    out.println(ContractJson.toJson(new ProgressEvent(event, step, total, loss, lr, tps, elapsed)));
    out.flush();
  }
}
