import { keyId } from "../core/checkpoint-key.js";
import type {
  CorruptCheckpoint,
  RunRecord,
  StoredCheckpoint,
} from "../core/store/checkpoint-store.js";
import type { CheckpointKey } from "../core/types.js";
import { leaseIsLive } from "./lease.js";
import { type RunningState, runningRun, successorsOf } from "./reached.js";

/** A checkpoint nobody works on that has not advanced for longer than the threshold. */
export interface StaleCheckpoint extends CheckpointKey {
  readonly completed: number;
  readonly total: number | null;
  readonly runId: string | null;
  readonly updatedAt: number;
  readonly ageMs: number;
}

/** Why a run still marked `running` is taken for dead. */
export type DeadRunCause = Exclude<RunningState, "live">;

/** A run left `running` by a process that stopped without recording an outcome. */
export interface DeadRun {
  readonly run: RunRecord;
  readonly cause: DeadRunCause;
  /** Its last sign of life: its checkpoint's last commit, or its start. */
  readonly lastSeenAt: number;
  readonly ageMs: number;
  /**
   * Entities it committed: read from its checkpoint while that is still its own, else from
   * the run that resumed it (where it died), else what it recorded.
   */
  readonly processed: number;
}

/** What `waymark stale` lists and `waymark gc` removes. */
export interface StaleReport {
  readonly now: number;
  readonly olderThanMs: number;
  readonly checkpoints: readonly StaleCheckpoint[];
  readonly runs: readonly DeadRun[];
  /**
   * Checkpoint rows that cannot be read: neither listed as stale nor removed by `gc` (their
   * age and lease cannot be trusted); `waymark reset` deletes one. Runs on them are left out.
   */
  readonly corrupt: readonly CorruptCheckpoint[];
}

/**
 * Finds stale checkpoints (no live lease, no commit for more than `olderThanMs`) and dead
 * runs (marked `running`, but their lease expired, another run took the checkpoint over,
 * or the checkpoint is gone; silent for more than `olderThanMs`). A checkpoint with a live
 * lease is never stale, however old its last commit. `history` (the checkpoints' current
 * runs, say) lets a dead run's progress be read from the run that resumed it.
 */
export function staleReport(
  checkpoints: readonly StoredCheckpoint[],
  runs: readonly RunRecord[],
  now: number,
  olderThanMs: number,
  history: readonly RunRecord[] = [],
  corrupt: readonly CorruptCheckpoint[] = [],
): StaleReport {
  const byKey = new Map(checkpoints.map((c) => [keyId(c), c]));
  const unreadable = new Set(corrupt.map(keyId));
  const stale = checkpoints
    .filter((c) => !leaseIsLive(c, now) && now - c.updatedAt > olderThanMs)
    .map((c) => ({
      processor: c.processor,
      partition: c.partition,
      shard: c.shard,
      completed: c.completed,
      total: c.total,
      runId: c.runId,
      updatedAt: c.updatedAt,
      ageMs: now - c.updatedAt,
    }));
  const successors = successorsOf([...runs, ...history]);
  const dead: DeadRun[] = [];
  for (const run of runs) {
    if (run.status !== "running" || unreadable.has(keyId(run))) continue;
    const found = runningRun(run, byKey.get(keyId(run)), successors.get(run.runId), now);
    if (found.state === "live" || now - found.lastSeenAt <= olderThanMs) continue;
    dead.push({
      run,
      cause: found.state,
      lastSeenAt: found.lastSeenAt,
      ageMs: now - found.lastSeenAt,
      processed: found.processed,
    });
  }
  return { now, olderThanMs, checkpoints: stale, runs: dead, corrupt };
}
