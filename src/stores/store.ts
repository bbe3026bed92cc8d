import type { CheckpointKey, Cursor, RecordedRunStatus } from "../core/types.js";
import type { ArtifactRef, ArtifactStore } from "./artifact-store.js";

/**
 * The store contract. A store holds persistence only: leases, checkpoints and run history.
 * Batching, ordering checks, retries and deadlines live in the core and are written once.
 *
 * Times are epoch milliseconds supplied by the caller, so that a run's clock (real or a
 * test's) decides expiry everywhere. Cursors and state cross this seam already validated:
 * the cursor as a string or number, the state as a JSON string.
 */
export interface CheckpointStore<Tx = unknown> {
  /** `memory`, `sqlite` or `postgres`: what the CLI shows and tests filter on. */
  readonly kind: string;

  /**
   * Takes the lease of a checkpoint for `owner`, creating an empty checkpoint row when there
   * is none. Succeeds when nobody holds the lease or the holder's lease expired before `now`;
   * each success increments the fencing token. Returns the checkpoint as it was committed.
   */
  acquire(request: AcquireRequest): Promise<AcquireResult>;

  /** Extends a held lease. Throws `FencedError` when `owner`/`fence` no longer hold it. */
  renew(lease: LeaseHandle, leaseTtlMs: number, now: number): Promise<void>;

  /**
   * Opens the scope of one batch. `tx` is what `processBatch` sees as `ctx.tx`; the writes made
   * through it commit in the same transaction as the checkpoint, or not at all.
   */
  openBatch(lease: LeaseHandle): BatchScope<Tx>;

  /** Clears a finished checkpoint (fenced) and remembers when the partition last completed. */
  complete(lease: LeaseHandle, now: number): Promise<void>;

  /** Gives up a lease and keeps the checkpoint for the next run. A lost lease is no error. */
  release(lease: LeaseHandle, now: number): Promise<void>;

  /** Inserts or replaces one run's history row (keyed by `runId`). */
  recordRun(run: RunRecord): Promise<void>;

  /** When the partition last completed, or null. */
  lastCompletedAt(key: CheckpointKey): Promise<number | null>;

  /** Checkpoints, newest first, optionally of one processor. */
  listCheckpoints(filter?: { processor?: string }): Promise<StoredCheckpoint[]>;

  /** One checkpoint, or null. */
  getCheckpoint(key: CheckpointKey): Promise<StoredCheckpoint | null>;

  /** Run history, newest first. */
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;

  /**
   * Deletes a checkpoint. With `unlessLeasedAt`, a checkpoint whose lease is live at that time
   * is kept, so that garbage collection never pulls progress out from under a runner.
   * Returns whether a row was deleted.
   */
  deleteCheckpoint(key: CheckpointKey, options?: { unlessLeasedAt?: number }): Promise<boolean>;

  /**
   * Entities that failed every attempt and were skipped (the failure ledger), ordered by
   * processor, partition and first failure.
   */
  listFailures(filter?: FailureFilter): Promise<StoredFailure[]>;

  /** Removes ledger entries of one checkpoint key by cursor; returns how many were removed. */
  clearFailures(key: CheckpointKey, cursors: readonly Cursor[]): Promise<number>;

  /** Deletes run history rows by id; returns how many were deleted. */
  deleteRuns(runIds: readonly string[]): Promise<number>;

  /** Releases connections and file handles. Idempotent. */
  close(): Promise<void>;

  /**
   * Blobs beside the checkpoint (`ctx.artifacts`). Optional: a store without it still
   * satisfies the contract, and `ctx.artifacts` then says the store does not keep artifacts.
   * A store that has it switches `CheckpointWrite.artifacts` in the batch's commit and
   * clears a partition's artifacts in `complete` and `deleteCheckpoint`.
   */
  readonly artifacts?: ArtifactStore;
}

/** What a runner asks for when it starts. */
export interface AcquireRequest extends CheckpointKey {
  readonly owner: string;
  readonly runId: string;
  readonly leaseTtlMs: number;
  readonly now: number;
}

/** One skipped entity as a batch commits it. */
export interface FailureWrite {
  readonly cursor: Cursor;
  /** The last error, as `Name: message`. */
  readonly error: string;
  /** Calls that failed for it in this run; added to what the ledger already holds. */
  readonly attempts: number;
}

/** One entry of the failure ledger. */
export interface StoredFailure extends CheckpointKey {
  readonly cursor: Cursor;
  readonly error: string;
  readonly attempts: number;
  readonly firstFailedAt: number;
  readonly lastFailedAt: number;
  /** The run that last failed on it. */
  readonly runId: string;
}

/** Filters for {@link CheckpointStore.listFailures}. */
export interface FailureFilter {
  readonly processor?: string;
  readonly partition?: string;
}

/** The outcome of {@link CheckpointStore.acquire}. */
export type AcquireResult =
  | { readonly acquired: true; readonly lease: LeaseHandle; readonly checkpoint: StoredCheckpoint }
  | {
      readonly acquired: false;
      readonly holder: { readonly owner: string; readonly expiresAt: number };
    };

/** Proof of a held lease: every fenced write names it. */
export interface LeaseHandle extends CheckpointKey {
  readonly owner: string;
  readonly fence: number;
  readonly runId: string;
}

/** A checkpoint as stored. `cursor` is null while no batch has been committed. */
export interface StoredCheckpoint extends CheckpointKey {
  readonly processorVersion: number | null;
  readonly cursor: Cursor | null;
  readonly completed: number;
  readonly total: number | null;
  /** The state as a JSON string, or null. */
  readonly state: string | null;
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
}

/** The progress one batch commits. */
export interface CheckpointWrite {
  readonly processorVersion: number;
  /** Null only when a redrive commits on a checkpoint that has no progress yet. */
  readonly cursor: Cursor | null;
  readonly completed: number;
  readonly total: number | null;
  readonly state: string | null;
  readonly fingerprint: string | null;
  /** Artifacts this batch put: their references switch in the same transaction. */
  readonly artifacts?: readonly ArtifactRef[];
  readonly leaseTtlMs: number;
  readonly now: number;
  /** Entities skipped by this batch, recorded in the failure ledger in the same transaction. */
  readonly failures?: readonly FailureWrite[];
  /** Ledger entries (by cursor) a redrive fixed, removed in the same transaction. */
  readonly resolvedFailures?: readonly Cursor[];
}

/** One batch's transaction scope. Exactly one of `commit` or `rollback` is called. */
export interface BatchScope<Tx> {
  /** The handle `processBatch` writes through (`ctx.tx`). */
  readonly tx: Tx;
  /** Applies the batch's writes and the checkpoint atomically; `FencedError` if the lease is lost. */
  commit(write: CheckpointWrite): Promise<void>;
  /** Discards the batch's writes. */
  rollback(): Promise<void>;
}

/** One row of run history. */
export interface RunRecord extends CheckpointKey {
  readonly runId: string;
  readonly status: RecordedRunStatus;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  /** Entities already complete when this run started from a checkpoint; null on a fresh start. */
  readonly resumedFrom: number | null;
  /** Entities this run processed. */
  readonly processed: number;
  readonly total: number | null;
  readonly batches: number;
  /** Time spent committing checkpoints, in milliseconds. */
  readonly checkpointMs: number;
  readonly attempt: number;
  /** Why a run was suspended, when it was. */
  readonly reason: string | null;
  readonly error: string | null;
}

/** Filters for {@link CheckpointStore.listRuns}. */
export interface RunFilter {
  readonly processor?: string;
  readonly partition?: string;
  readonly status?: RecordedRunStatus;
  /** Runs started at or after this time (epoch ms). */
  readonly since?: number;
  readonly limit?: number;
}

/** The message every store uses when a lease was lost, so that users see one wording. */
export function fencedMessage(lease: LeaseHandle): string {
  return (
    `Lease lost for ${lease.processor}/${lease.partition} (fence ${lease.fence}): another runner ` +
    "took it over after this one's lease expired. Nothing more was committed by this run; " +
    "raise leaseTtlMs if batches legitimately run longer than the lease."
  );
}

/** The successful outcome of `acquire`: the lease carries the checkpoint's new fence. */
export function acquiredLease(
  request: AcquireRequest,
  checkpoint: StoredCheckpoint,
): AcquireResult {
  const lease: LeaseHandle = {
    processor: request.processor,
    partition: request.partition,
    owner: request.owner,
    fence: checkpoint.fence,
    runId: request.runId,
  };
  return { acquired: true, lease, checkpoint };
}
