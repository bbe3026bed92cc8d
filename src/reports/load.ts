import type { RunRecord } from "../stores/records.js";
import type { ReportStore } from "../stores/report-store.js";
import { type Advice, type AdviseOptions, advise } from "./advise.js";
import { type RolledStatusRow, rollUpShards } from "./shard-rollup.js";
import { type StaleReport, staleReport } from "./stale.js";
import { type ProcessorStats, statsReport } from "./stats.js";
import { statusReport } from "./status.js";

/**
 * Reads what each report needs through the read side of the store, so that the CLI and the
 * dashboard show the same figures on every store. Each report costs a fixed number of
 * queries, however many checkpoints and runs there are.
 */

/** The status report of the store's checkpoints, optionally of one processor: two queries. */
export async function loadStatus(
  store: ReportStore,
  now: number,
  processor?: string,
): Promise<RolledStatusRow[]> {
  const [checkpoints, current] = await Promise.all([
    store.listCheckpoints({ processor }),
    store.listCurrentRuns({ processor }),
  ]);
  return rollUpShards(statusReport(checkpoints, current, now));
}

/** Effectiveness per processor for runs started at or after `since`: one query. */
export async function loadStats(
  store: ReportStore,
  since: number,
  processor?: string,
): Promise<ProcessorStats[]> {
  return statsReport(await store.listRuns({ processor, since }), since);
}

/** Stale checkpoints and dead runs older than `olderThanMs`: two queries. */
export async function loadStale(
  store: ReportStore,
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
  store: ReportStore,
  since: number,
  options: AdviseOptions,
  processor?: string,
): Promise<Advice[]> {
  return adviceFrom(await store.listRuns({ processor, since }), options, processor);
}

/** The advisor's verdicts from runs already read. */
export function adviceFrom(
  runs: readonly RunRecord[],
  options: AdviseOptions,
  processor?: string,
): Advice[] {
  const names = processor ? [processor] : [...new Set(runs.map((r) => r.processor))].sort();
  return names.map((name) =>
    advise(
      name,
      runs.filter((r) => r.processor === name),
      options,
    ),
  );
}
