import { keyId } from "../core/checkpoint-key.js";
import type { RunRecord, StoredCheckpoint } from "../core/store/records.js";
import { leaseIsLive } from "./lease.js";

/**
 * Where runs got to, told from history rather than from what a run managed to record about
 * itself: a process that dies never records its outcome, so its row alone says "0 processed"
 * however far it went. Two witnesses know better: its checkpoint, while the run still owns it,
 * and the run that resumed it, whose `resumedFrom` is exactly where it died.
 */

/**
 * The run that resumed each run's checkpoint, by run id: the same checkpoint key, the next
 * attempt (a checkpoint counts the runs that took its lease), started later.
 */
export function successorsOf(runs: readonly RunRecord[]): Map<string, RunRecord> {
  const byAttempt = new Map<string, RunRecord>();
  for (const run of runs) {
    // A redrive shares its checkpoint's attempt: it resumed nothing and nothing resumed it.
    if (run.status === "busy" || run.status === "skipped" || run.kind === "redrive") continue;
    byAttempt.set(`${keyId(run)}\u0000${run.attempt}`, run);
  }
  const successors = new Map<string, RunRecord>();
  for (const run of runs) {
    // A busy or skipped run never held the checkpoint: the run after it did not resume it.
    if (run.status === "busy" || run.status === "skipped" || run.kind === "redrive") continue;
    const next = byAttempt.get(`${keyId(run)}\u0000${run.attempt + 1}`);
    if (next && next.startedAt >= run.startedAt) successors.set(run.runId, next);
  }
  return successors;
}

/**
 * How many of the partition's entities were complete when `run` stopped: its start plus what
 * it recorded, or, when more, where its successor resumed (a run that died recorded nothing).
 * A successor that started over (an expired or reset checkpoint) says nothing about it.
 */
export function reachedBy(run: RunRecord, successor: RunRecord | undefined): number {
  // Skipped entities moved the cursor too: they are in the checkpoint's count.
  const own = (run.resumedFrom ?? 0) + run.processed + (run.skipped ?? 0);
  const resumedAt = successor?.resumedFrom ?? null;
  return resumedAt !== null && resumedAt > own ? resumedAt : own;
}

/** What became of a run still marked `running`. */
export type RunningState = "live" | "lease-expired" | "taken-over" | "checkpoint-gone";

/** A run still marked `running`: whether its process is alive, and what it has committed. */
export interface RunningRun {
  readonly state: RunningState;
  /** Entities it committed: from its own checkpoint, else from the run that resumed it. */
  readonly processed: number;
  /** Its last sign of life: its checkpoint's last commit, or its start. */
  readonly lastSeenAt: number;
}

/**
 * Tells a run marked `running` from its checkpoint (`checkpoint`, the one of its key, if any)
 * and the run that resumed it: `live` while it holds a live lease, `lease-expired` when it
 * owns the checkpoint but stopped renewing, `taken-over` when another run holds the
 * checkpoint, `checkpoint-gone` when there is none (completed by another run, reset, gc).
 */
export function runningRun(
  run: RunRecord,
  checkpoint: StoredCheckpoint | undefined,
  successor: RunRecord | undefined,
  now: number,
): RunningRun {
  const own = checkpoint !== undefined && checkpoint.runId === run.runId;
  if (own) {
    return {
      state: leaseIsLive(checkpoint, now) ? "live" : "lease-expired",
      processed: Math.max(0, checkpoint.completed - (run.resumedFrom ?? 0)),
      lastSeenAt: Math.max(checkpoint.updatedAt, run.startedAt),
    };
  }
  return {
    state: checkpoint === undefined ? "checkpoint-gone" : "taken-over",
    processed: reachedBy(run, successor) - (run.resumedFrom ?? 0),
    lastSeenAt: run.startedAt,
  };
}
