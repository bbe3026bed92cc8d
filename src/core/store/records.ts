import type { CheckpointKey, Cursor, RecordedRunStatus } from "../types.js";

/**
 * The rows a store keeps, as both sides of the seam see them: a run writes them
 * (`RunStore`), reports read them (`ReportStore`).
 */

/**
 * The part of a partition's cursor space one checkpoint covers: ids strictly after `from` up
 * to and including `to`; null is the partition's start or end.
 */
export interface UnitRange {
  readonly from: Cursor | null;
  readonly to: Cursor | null;
}

/** A request, written by an idle runner, that the holder split its unclaimed rest. */
export interface SplitRequest {
  /** Who asked: a runner's owner id. */
  readonly by: string;
  readonly at: number;
}

/** A checkpoint as stored. `cursor` is null while no batch has been committed. */
export interface StoredCheckpoint extends CheckpointKey {
  readonly processorVersion: number | null;
  readonly cursor: Cursor | null;
  readonly completed: number;
  readonly total: number | null;
  /** The state as its codec wrote it, or null. */
  readonly state: string | null;
  /** The name of the codec that wrote `state` (`json`, `v8`, …); null in rows from before codecs. */
  readonly stateCodec: string | null;
  readonly fingerprint: string | null;
  readonly runId: string | null;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number | null;
  readonly fence: number;
  /** How many runs have taken this checkpoint's lease since it was created (1 on the first). */
  readonly attempt: number;
  readonly createdAt: number;
  /** When the last batch committed (or the row was created): expiry counts from here. */
  readonly updatedAt: number;
  /**
   * The range this checkpoint covers, stored with it so that a resume keeps to it; a holder's
   * split narrows its `to`. Null on rows written before ranges were recorded.
   */
  readonly range: UnitRange | null;
  /**
   * A digest of the processor's `shards()` split the row was made under (`""` for a partition
   * without static shards): a resume under another split is drift. Null on older rows.
   */
  readonly layout: string | null;
  /** The shard this one was split from, for a shard made by dynamic splitting; else null. */
  readonly parent: string | null;
  /** A split asked of the holder and not yet answered, or null. */
  readonly splitRequest: SplitRequest | null;
  /** Why the holder last declined a split (no `split` hook, too little left), or null. */
  readonly splitNote: string | null;
}

/** A partition's (or shard's) completion, with what it covered. */
export interface UnitCompletion extends CheckpointKey {
  readonly completedAt: number;
  /** The run that completed it; null on rows from before runs were recorded with it. */
  readonly runId: string | null;
  /** Its range and split digest, as its checkpoint held them (null on older rows). */
  readonly range: UnitRange | null;
  readonly layout: string | null;
  /** Entities its checkpoint counted done, and its total, when recorded. */
  readonly completed: number | null;
  readonly total: number | null;
}

/** One split of a running partition or shard, as history keeps it. */
export interface SplitRecord extends CheckpointKey {
  /** The shard the split made: ids after `at` up to the old end. */
  readonly newShard: string;
  /** The split point: the holder kept ids up to and including it. */
  readonly at: Cursor;
  readonly requestedBy: string | null;
  /** The run that held the split shard and made the split. */
  readonly runId: string;
  readonly splitAt: number;
}

/** Filters for split history. */
export interface SplitFilter {
  readonly processor?: string;
  readonly partition?: string;
  /** Splits made at or after this time (epoch ms). */
  readonly since?: number;
  readonly limit?: number;
}

/** A backfill as its store keeps it: when it began, and when it finished. */
export interface StoredBackfill {
  readonly processor: string;
  /** A digest of the processor's version and the backfill's partitions. */
  readonly id: string;
  /** How many partitions it covers. */
  readonly partitions: number;
  readonly startedAt: number;
  /** Null while it has not finished. */
  readonly finishedAt: number | null;
}

/** What {@link OperatorStore.resetPartition} did. */
export type PartitionReset =
  | {
      readonly outcome: "reset";
      /** The checkpoints deleted, every shard's; `completed`/`total` null when unreadable. */
      readonly checkpoints: readonly DeletedCheckpoint[];
      /** The shards whose completions were forgotten. */
      readonly completions: readonly string[];
    }
  /** A runner holds a live lease on one of its checkpoints: nothing was deleted. */
  | { readonly outcome: "leased"; readonly shard: string; readonly owner: string };

/** A checkpoint `resetPartition` deleted, with the progress it discarded. */
export interface DeletedCheckpoint {
  readonly shard: string;
  readonly completed: number | null;
  readonly total: number | null;
}

/**
 * A checkpoint row that holds a value no run could have written: its key and what is wrong.
 * Reports list it as corrupt; `reset` deletes it without reading it.
 */
export interface CorruptCheckpoint extends CheckpointKey {
  /** The column with the bad value, e.g. `cursor` or `completed`. */
  readonly field: string;
  /** The bad value, described: `-5 (number)`, `"abc" (string)`, `null`. */
  readonly value: string;
  /** What is wrong, and the reset that recovers the partition. */
  readonly message: string;
}

/** Every checkpoint row of a listing: those that read back, and those that are corrupt. */
export interface CheckpointScan {
  readonly checkpoints: StoredCheckpoint[];
  readonly corrupt: CorruptCheckpoint[];
}

/**
 * What a history row records: a `run` (which resumes and completes a checkpoint) or a
 * `redrive` (which reprocesses the failure ledger and leaves the checkpoint as it was).
 */
export type RunKind = "run" | "redrive";

/** One row of run history. */
export interface RunRecord extends CheckpointKey {
  readonly runId: string;
  /** A run, or a redrive of the failure ledger; reports rate runs only. @default "run" */
  readonly kind?: RunKind;
  readonly status: RecordedRunStatus;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  /** Entities already complete when this run started from a checkpoint; null on a fresh start. */
  readonly resumedFrom: number | null;
  /** Entities this run processed. */
  readonly processed: number;
  /**
   * Entities this run skipped to the failure ledger after every attempt failed: counted in
   * the checkpoint's `completed`, not in `processed`. @default 0
   */
  readonly skipped?: number;
  readonly total: number | null;
  readonly batches: number;
  /** Time spent committing checkpoints, in milliseconds. */
  readonly checkpointMs: number;
  readonly attempt: number;
  /** Why a run was suspended, when it was. */
  readonly reason: string | null;
  readonly error: string | null;
}

/**
 * One entry of the failure ledger: an entity skipped after every attempt failed. It is open
 * until a later commit processes the entity successfully (a run after a restart or a reset,
 * a redrive), which resolves it; one that fails again opens it again.
 */
export interface StoredFailure extends CheckpointKey {
  readonly cursor: Cursor;
  readonly error: string;
  readonly attempts: number;
  readonly firstFailedAt: number;
  readonly lastFailedAt: number;
  /** The run that last failed on it. */
  readonly runId: string;
  /** When a commit processed the entity successfully, or null while the entry is open. */
  readonly resolvedAt: number | null;
  /** The run (or redrive) whose commit resolved it, or null while the entry is open. */
  readonly resolvedBy: string | null;
}

/** Which ledger entries a listing holds: open ones, resolved ones, or both. */
export type FailureStatus = "open" | "resolved" | "all";

/**
 * Filters for the failure ledger. An unset field matches everything; `shard: ""` matches
 * only the whole-partition entries.
 */
export interface FailureFilter {
  readonly processor?: string;
  readonly partition?: string;
  readonly shard?: string;
  /** Open entries (what a redrive reprocesses), resolved ones, or all. @default "open" */
  readonly status?: FailureStatus;
}

/** Filters for checkpoints. */
export interface CheckpointFilter {
  readonly processor?: string;
}

/** Filters for run history. */
export interface RunFilter {
  readonly processor?: string;
  readonly partition?: string;
  readonly shard?: string;
  readonly status?: RecordedRunStatus;
  /** Runs started at or after this time (epoch ms). */
  readonly since?: number;
  /** The one run with this id (a run's or a redrive's, as results and messages name them). */
  readonly runId?: string;
  readonly limit?: number;
}
