import type { CheckpointKey } from "../types.js";

/**
 * The record of backfills, so that rerunning one resumes it as a whole: a store keeps, per
 * processor and backfill id (a digest of its partitions), when the backfill began and whether
 * it finished. A partition that completed since the backfill began is not run again by it.
 * An optional capability of a store (`store.backfills`): without it, every rerun runs every
 * partition (each still resumes from its own checkpoint).
 */
export interface BackfillStore {
  /**
   * Opens backfill `id`: the unfinished one, if it was active after `staleBefore` and
   * `restart` is false; else a new one that begins `now`. Either way it is active at `now`.
   */
  open(request: BackfillOpen): Promise<BackfillRecord>;

  /** The checkpoint keys of `processor` whose last completion was at or after `since`. */
  completedSince(processor: string, since: number): Promise<CheckpointKey[]>;

  /** Marks the backfill begun at `startedAt` finished: the next `open` of its id starts anew. */
  finish(record: BackfillRecord, now: number): Promise<void>;
}

/** What {@link BackfillStore.open} is asked. */
export interface BackfillOpen {
  readonly processor: string;
  /** Names the backfill: the same processor version and partitions give the same id. */
  readonly id: string;
  /** How many runs it has (partitions, or shards of them). */
  readonly partitions: number;
  readonly now: number;
  /** An unfinished backfill not active since this time is not resumed (its checkpoints expired). */
  readonly staleBefore: number;
  /** Begin anew even when an unfinished one could be resumed (`--rerun-completed`). */
  readonly restart: boolean;
}

/** A backfill as {@link BackfillStore.open} found or began it. */
export interface BackfillRecord {
  readonly processor: string;
  readonly id: string;
  /** When it began: partitions completed at or after this are done for it. */
  readonly startedAt: number;
  /** Whether an unfinished backfill was resumed rather than a new one begun. */
  readonly resumed: boolean;
}
