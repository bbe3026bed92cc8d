import type { RunRecord } from "../core/store/checkpoint-store.js";

/** Suspensions in a row without progress after which a partition is flagged. */
export const STALLED_AFTER = 3;

/** A partition whose latest runs all suspended before committing anything. */
export interface StalledPartition {
  readonly processor: string;
  readonly partition: string;
  /** Suspensions without progress in a row, newest first. */
  readonly suspensions: number;
  /** The reason of the newest of them (`deadline`, `circuit-open`, `signal`, `rate-limited`). */
  readonly reason: string | null;
}

/**
 * Partitions whose last {@link STALLED_AFTER} or more runs (ignoring `busy` and `skipped`,
 * which say nothing about progress) were suspended with nothing processed: a queue that keeps
 * re-invoking them makes no progress. `runs` is history newest first, as stores return it.
 */
export function stalledPartitions(runs: readonly RunRecord[]): StalledPartition[] {
  const streaks = new Map<string, { run: RunRecord; suspensions: number; ended: boolean }>();
  for (const run of runs) {
    if (run.status === "busy" || run.status === "skipped" || run.kind === "redrive") continue;
    const key = JSON.stringify([run.processor, run.partition]);
    const streak = streaks.get(key) ?? { run, suspensions: 0, ended: false };
    streaks.set(key, streak);
    if (streak.ended) continue;
    if (run.status === "suspended" && run.batches === 0) streak.suspensions++;
    else streak.ended = true;
  }
  return [...streaks.values()]
    .filter((s) => s.suspensions >= STALLED_AFTER)
    .map(({ run, suspensions }) => ({
      processor: run.processor,
      partition: run.partition,
      suspensions,
      reason: run.reason,
    }));
}

/** One line that names each stalled partition and what to check, or null when none is. */
export function stallWarning(stalled: readonly StalledPartition[]): string | null {
  if (stalled.length === 0) return null;
  const list = stalled
    .map((s) => `${s.processor}/${s.partition} (${s.suspensions} times, ${s.reason ?? "?"})`)
    .join(", ");
  return (
    `Suspended again and again without progress: ${list}. Check the deadline against ` +
    "deadlineMarginMs and the first batch's duration, the circuit breaker, or the quota's pauses."
  );
}
