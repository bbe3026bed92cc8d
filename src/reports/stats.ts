import type { RunRecord } from "../core/store/checkpoint-store.js";
import { runDurationMs } from "./lease.js";
import { type StalledPartition, stalledPartitions } from "./stalled.js";

/** What checkpoints did for one processor over a window of run history. */
export interface ProcessorStats {
  readonly processor: string;
  /** Runs recorded in the window (every status). */
  readonly runs: number;
  readonly completedRuns: number;
  readonly failedRuns: number;
  readonly suspendedRuns: number;
  /** Runs that started from a checkpoint. */
  readonly resumedRuns: number;
  /** Entities not redone thanks to resumes: the sum of `resumedFrom` over resumed runs. */
  readonly entitiesSaved: number;
  /** Measured time per entity: total duration over total processed of completed runs. */
  readonly perEntityMs: number | null;
  /** `entitiesSaved × perEntityMs`; null until a completed run gives a rate. */
  readonly timeSavedMs: number | null;
  /** Time spent committing checkpoints, over every run in the window. */
  readonly checkpointOverheadMs: number;
  /** `timeSavedMs - checkpointOverheadMs`. */
  readonly netSavingMs: number | null;
  /** Partitions that keep suspending without progress (a livelock to look into). */
  readonly stalledPartitions: readonly StalledPartition[];
}

/** Effectiveness per processor for the runs started at or after `since`, sorted by name. */
export function statsReport(runs: readonly RunRecord[], since: number): ProcessorStats[] {
  const byProcessor = new Map<string, RunRecord[]>();
  for (const r of runs) {
    // A redrive reprocesses ledger entries: it saves or costs nothing a resume would.
    if (r.startedAt < since || r.kind === "redrive") continue;
    const list = byProcessor.get(r.processor) ?? [];
    list.push(r);
    byProcessor.set(r.processor, list);
  }
  return [...byProcessor.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([processor, list]) => statsOf(processor, list));
}

function statsOf(processor: string, runs: readonly RunRecord[]): ProcessorStats {
  const resumed = runs.filter((r) => r.resumedFrom !== null && r.resumedFrom > 0);
  const entitiesSaved = sum(resumed.map((r) => r.resumedFrom ?? 0));
  const perEntityMs = perEntityTime(runs);
  const timeSavedMs = perEntityMs === null ? null : entitiesSaved * perEntityMs;
  const checkpointOverheadMs = sum(runs.map((r) => r.checkpointMs));
  return {
    processor,
    runs: runs.length,
    completedRuns: runs.filter((r) => r.status === "completed").length,
    failedRuns: runs.filter((r) => r.status === "failed").length,
    suspendedRuns: runs.filter((r) => r.status === "suspended").length,
    resumedRuns: resumed.length,
    entitiesSaved,
    perEntityMs,
    timeSavedMs,
    checkpointOverheadMs,
    netSavingMs: timeSavedMs === null ? null : timeSavedMs - checkpointOverheadMs,
    stalledPartitions: stalledPartitions(runs),
  };
}

/** Duration over entities processed, from completed runs that processed something. */
export function perEntityTime(runs: readonly RunRecord[]): number | null {
  let duration = 0;
  let processed = 0;
  for (const r of runs) {
    const ms = runDurationMs(r);
    if (r.status !== "completed" || ms === null || r.processed <= 0) continue;
    duration += ms;
    processed += r.processed;
  }
  return processed > 0 ? duration / processed : null;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
