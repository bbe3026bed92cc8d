import type { CheckpointStore } from "../stores/store.js";
import { type Advice, type AdviseOptions, advise } from "./advise.js";
import { type StaleReport, staleReport } from "./stale.js";
import { type ProcessorStats, statsReport } from "./stats.js";
import { type StatusRow, statusReport } from "./status.js";

/**
 * Reads what each report needs through the store API, so that the CLI and the dashboard
 * show the same figures on every store.
 */

/** The status report of the store's checkpoints, optionally of one processor. */
export async function loadStatus(
  store: CheckpointStore,
  now: number,
  processor?: string,
): Promise<StatusRow[]> {
  const checkpoints = await store.listCheckpoints({ processor });
  const running = await store.listRuns({ processor, status: "running" });
  // A current attempt that failed or was suspended is no longer `running`: fetch it by key.
  const known = new Set(running.map((r) => r.runId));
  const others = await Promise.all(
    checkpoints
      .filter((c) => c.runId !== null && !known.has(c.runId))
      .map((c) => store.listRuns({ processor: c.processor, partition: c.partition, limit: 5 })),
  );
  return statusReport(checkpoints, [...running, ...others.flat()], now);
}

/** Effectiveness per processor for runs started at or after `since`. */
export async function loadStats(
  store: CheckpointStore,
  since: number,
  processor?: string,
): Promise<ProcessorStats[]> {
  return statsReport(await store.listRuns({ processor, since }), since);
}

/** Stale checkpoints and dead runs older than `olderThanMs`. */
export async function loadStale(
  store: CheckpointStore,
  now: number,
  olderThanMs: number,
  processor?: string,
): Promise<StaleReport> {
  const [checkpoints, running] = await Promise.all([
    store.listCheckpoints({ processor }),
    store.listRuns({ processor, status: "running" }),
  ]);
  return staleReport(checkpoints, running, now, olderThanMs);
}

/** The advisor's verdict per processor (or for one), from runs started at or after `since`. */
export async function loadAdvice(
  store: CheckpointStore,
  since: number,
  options: AdviseOptions,
  processor?: string,
): Promise<Advice[]> {
  const runs = await store.listRuns({ processor, since });
  const names = processor ? [processor] : [...new Set(runs.map((r) => r.processor))].sort();
  return names.map((name) =>
    advise(
      name,
      runs.filter((r) => r.processor === name),
      options,
    ),
  );
}
