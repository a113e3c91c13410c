package io.loraops.operator.config;

import java.time.Duration;

/**
 * How the operator follows running trials' progress lines (docs/progress.md).
 *
 * @param pollInterval time between two reads of each running trial's log; also the shortest time
 *     between two progress updates of a LoraJob's status
 * @param readers log reads in flight at once, over all LoraJobs
 */
public record ProgressSettings(Duration pollInterval, int readers) {}
