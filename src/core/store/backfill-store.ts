import type { CheckpointKey, Cursor } from "../types.js";
import type { LeaseHandle } from "./lease.js";
import type { StoredCheckpoint, UnitCompletion } from "./records.js";

/**
 * Backfills, the unit users think in: many partitions of one processor, run by any number of
 * processes together. A store keeps, per processor and backfill id (a digest of its version
 * and partitions), when the backfill began and whether it finished; the runners read from it
 * what is left to claim, and ask each other to split a running partition when they are idle.
 * Whether a partition still needs running is decided by `acquire` (`completedSince`), under
 * its lease; what this side lists only tells a runner where to try.
 *
 * An optional capability of a store (`store.backfills`): without it, a backfill still runs
 * every partition exactly once per process start (each claim is decided by `acquire`), but
 * processes do not share it, a finished one is not remembered, and nothing is split.
 */
export interface BackfillStore {
  /**
   * Opens backfill `id`. A finished one is returned finished (unless `restart` or
   * `repeatFinished`); an unfinished one that was active at or after `staleBefore` (opened, or
   * a commit or completion of one of its partitions) is resumed; else a new one begins `now`.
   * A new one discards, in the same transaction, every checkpoint of its partitions that were
   * split (dynamically) that no live lease holds: their ranges belong to the old backfill. A
   * partition with a checkpoint written since `staleBefore` keeps them, unless `restart`: another
   * backfill sharing it may be running it, and would lose the ranges it split off.
   */
  open(request: BackfillOpen): Promise<BackfillRecord>;

  /** Marks the backfill begun at `startedAt` finished: the same command later finds it so. */
  finish(record: BackfillRecord, now: number): Promise<void>;

  /**
   * The checkpoints of `partitions` (every shard, static or split off; every partition of the
   * processor when null) and their completions at or after `since`: what a backfill runner
   * chooses its next claim from, and how it knows the backfill is done. A constant number of
   * queries.
   */
  listUnits(
    processor: string,
    partitions: readonly string[] | null,
    since: number,
  ): Promise<UnitListing>;

  /**
   * Asks the live holder of `key` to split its unclaimed rest. False when nobody holds the
   * key's lease at `now` (by the store's clock, where it keeps one), a request is pending, or
   * the unit declined one (its range only shrinks: a runner whose look at the backfill was
   * older than the answer would have it asked again).
   */
  requestSplit(key: CheckpointKey, by: string, now: number): Promise<boolean>;

  /**
   * The holder's answer to a split request, fenced by its lease, in one transaction: a
   * `split` ends the holder's range at `at`, creates shard `shard` for the ids after `at` up to
   * the old end (no lease, no progress, the holder's split digest), clears the request and
   * records the split in history; a `decline` clears the request and keeps `note` on the
   * checkpoint. `FencedError` when the lease was lost.
   */
  answerSplit(lease: LeaseHandle, answer: SplitAnswer, now: number): Promise<void>;
}

/** What {@link BackfillStore.open} is asked. */
export interface BackfillOpen {
  readonly processor: string;
  /** Names the backfill: the same processor version and partitions give the same id. */
  readonly id: string;
  /** Its partitions, in order. */
  readonly partitions: readonly string[];
  readonly now: number;
  /** An unfinished backfill not active since this time is not resumed (its checkpoints expired). */
  readonly staleBefore: number;
  /** Begin anew even when an unfinished or finished one exists (`--rerun-completed`). */
  readonly restart: boolean;
  /** Begin anew when the one found has finished (a single partition runs again). */
  readonly repeatFinished: boolean;
}

/** A backfill as {@link BackfillStore.open} found or began it. */
export interface BackfillRecord {
  readonly processor: string;
  readonly id: string;
  /** When it began: partitions completed at or after this are done for it. */
  readonly startedAt: number;
  /** Whether an existing backfill was found rather than a new one begun. */
  readonly resumed: boolean;
  /** When it finished, for a finished one found again; else null. */
  readonly finishedAt: number | null;
  /** For a finished one: the runs of its partitions between its start and its end. */
  readonly runs: number | null;
  /** For a new one: the checkpoints of split partitions it discarded. */
  readonly discarded: number;
  /**
   * For a new one begun where an unfinished one was found (not active since `staleBefore`,
   * or `restart`): when that one began. Null otherwise.
   */
  readonly replaced: number | null;
}

/** What {@link BackfillStore.listUnits} returns. */
export interface UnitListing {
  readonly checkpoints: readonly StoredCheckpoint[];
  readonly completions: readonly UnitCompletion[];
}

/** A holder's answer to a split request. */
export type SplitAnswer =
  | {
      readonly kind: "split";
      /** The split point: the holder keeps the ids up to and including it. */
      readonly at: Cursor;
      /** The new shard's id. */
      readonly shard: string;
      readonly requestedBy: string | null;
    }
  | { readonly kind: "decline"; readonly note: string };
