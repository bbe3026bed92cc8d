import type { StoredCheckpoint } from "../core/store/checkpoint-store.js";

/** Whether a runner holds the checkpoint's lease at `now`: such a checkpoint is never touched. */
export function leaseIsLive(checkpoint: StoredCheckpoint, now: number): boolean {
  return (
    checkpoint.leaseOwner !== null &&
    checkpoint.leaseExpiresAt !== null &&
    checkpoint.leaseExpiresAt > now
  );
}

/** How long a finished run took by the store's clock, or null while it has not finished. */
export function runDurationMs(run: {
  startedAt: number;
  finishedAt: number | null;
}): number | null {
  return run.finishedAt === null ? null : Math.max(0, run.finishedAt - run.startedAt);
}
