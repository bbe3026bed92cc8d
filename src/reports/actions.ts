import { WaymarkError } from "../core/errors.js";
import type { StoredCheckpoint } from "../core/store/records.js";
import type { OperatorStore, ReportStore } from "../core/store/report-store.js";
import type { CheckpointKey } from "../core/types.js";
import { leaseIsLive } from "./lease.js";
import type { DeadRun, StaleCheckpoint, StaleReport } from "./stale.js";

/** The error text a run gets when `gc` finds it abandoned. */
export const ABANDONED_ERROR =
  "Abandoned: the process running it stopped without recording an outcome (marked failed by gc).";

/** What {@link collectGarbage} did. */
export interface GcResult {
  /** Checkpoints deleted. */
  readonly removed: readonly StaleCheckpoint[];
  /** Listed checkpoints a runner leased between listing and removal: left alone. */
  readonly kept: readonly StaleCheckpoint[];
  /** Dead runs now recorded as `failed`. */
  readonly markedFailed: readonly DeadRun[];
}

/**
 * Removes exactly what a {@link StaleReport} lists. Dead runs are recorded as `failed`
 * (with their last sign of life as finish time and the progress their checkpoint shows)
 * rather than deleted: a dead process is a failure, and the advisor's failure rate must
 * see it. Checkpoints are deleted with `unlessLeasedAt`, so a lease taken since the
 * listing wins and the checkpoint is kept.
 */
export async function collectGarbage(
  store: OperatorStore,
  report: StaleReport,
  now: number,
): Promise<GcResult> {
  const markedFailed: DeadRun[] = [];
  for (const dead of report.runs) {
    await store.recordRun({
      ...dead.run,
      status: "failed",
      finishedAt: dead.lastSeenAt,
      processed: dead.processed,
      error: ABANDONED_ERROR,
    });
    markedFailed.push(dead);
  }
  const removed: StaleCheckpoint[] = [];
  const kept: StaleCheckpoint[] = [];
  for (const checkpoint of report.checkpoints) {
    const key = {
      processor: checkpoint.processor,
      partition: checkpoint.partition,
      shard: checkpoint.shard,
    };
    const deleted = await store.deleteCheckpoint(key, { unlessLeasedAt: now });
    (deleted ? removed : kept).push(checkpoint);
  }
  return { removed, kept, markedFailed };
}

/** The outcome of {@link resetCheckpoint}. */
export type ResetOutcome = "deleted" | "missing" | "leased";

/**
 * Forgets a checkpoint so that the next run starts over. A checkpoint a runner holds a
 * live lease on is kept (`leased`): stop that run first. A corrupt row is deleted without
 * being read: the store's own lease check (`unlessLeasedAt`) is all it needs.
 */
export async function resetCheckpoint(
  store: ReportStore & OperatorStore,
  key: CheckpointKey,
  now: number,
): Promise<ResetOutcome> {
  const checkpoint = await readableOrCorrupt(store, key);
  if (checkpoint === null) return "missing";
  if (checkpoint !== CORRUPT && leaseIsLive(checkpoint, now)) return "leased";
  const deleted = await store.deleteCheckpoint(key, { unlessLeasedAt: now });
  if (deleted) return "deleted";
  return (await readableOrCorrupt(store, key)) === null ? "missing" : "leased";
}

const CORRUPT = Symbol("corrupt");

async function readableOrCorrupt(
  store: ReportStore,
  key: CheckpointKey,
): Promise<StoredCheckpoint | typeof CORRUPT | null> {
  try {
    return await store.getCheckpoint(key);
  } catch (error) {
    if (error instanceof WaymarkError && error.code === "CORRUPT_CHECKPOINT") return CORRUPT;
    throw error;
  }
}
