import type { RunRecord, StoredCheckpoint } from "../core/store/checkpoint-store.js";
import type { UnitRange } from "../core/store/records.js";
import type { CheckpointKey, Cursor } from "../core/types.js";
import { leaseIsLive } from "./lease.js";

/** One active checkpoint as `waymark status` and the dashboard show it. */
export interface StatusRow extends CheckpointKey {
  readonly completed: number;
  readonly total: number | null;
  /** Percent done, one decimal; null without a total. */
  readonly percent: number | null;
  readonly cursor: Cursor | null;
  /** Time since the last committed batch. */
  readonly ageMs: number;
  /** The runner holding a live lease, or null when nobody is working on it. */
  readonly leaseHolder: string | null;
  /** The run that last took the lease. */
  readonly runId: string | null;
  /** Runs that resumed this checkpoint: `attempt - 1`. */
  readonly resumes: number;
  /** Entities per second of the current attempt, or null before its first batch. */
  readonly ratePerSecond: number | null;
  /** Time left at that rate; null when nobody holds the lease or the total is unknown. */
  readonly etaMs: number | null;
  /** The ids it covers (a split narrows them); null on rows from before ranges were kept. */
  readonly range: UnitRange | null;
  /** For a shard split off a running one: the shard it came from (`""`: the partition). */
  readonly parent: string | null;
  /** Why its holder last declined to split it (no `split` hook, too little left), or null. */
  readonly splitNote: string | null;
  /** The runner that asked for a split its holder has not answered yet, or null. */
  readonly splitRequestedBy: string | null;
}

/**
 * Builds the status report from the store's checkpoints and the run history of their
 * current attempts. The rate is what the current run committed since it started
 * (`completed - resumedFrom` over `updatedAt - startedAt`), both by the store's clock.
 */
export function statusReport(
  checkpoints: readonly StoredCheckpoint[],
  runs: readonly RunRecord[],
  now: number,
): StatusRow[] {
  const runsById = new Map(runs.map((r) => [r.runId, r]));
  return checkpoints.map((c) => {
    const live = leaseIsLive(c, now);
    const current = c.runId === null ? undefined : runsById.get(c.runId);
    const ratePerSecond = current ? rateOf(c, current) : null;
    const remaining = c.total === null ? null : Math.max(0, c.total - c.completed);
    return {
      processor: c.processor,
      partition: c.partition,
      shard: c.shard,
      completed: c.completed,
      total: c.total,
      percent: c.total ? Math.min(100, Math.round((c.completed / c.total) * 1000) / 10) : null,
      cursor: c.cursor,
      ageMs: Math.max(0, now - c.updatedAt),
      leaseHolder: live ? c.leaseOwner : null,
      runId: c.runId,
      resumes: Math.max(0, c.attempt - 1),
      ratePerSecond,
      etaMs:
        live && ratePerSecond && remaining !== null
          ? Math.round((remaining / ratePerSecond) * 1000)
          : null,
      range: c.range,
      parent: c.parent,
      splitNote: c.splitNote,
      splitRequestedBy: c.splitRequest?.by ?? null,
    };
  });
}

function rateOf(checkpoint: StoredCheckpoint, current: RunRecord): number | null {
  const processed = checkpoint.completed - (current.resumedFrom ?? 0);
  const elapsedMs = checkpoint.updatedAt - current.startedAt;
  if (processed <= 0 || elapsedMs <= 0) return null;
  return (processed / elapsedMs) * 1000;
}
