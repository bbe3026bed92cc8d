import { describeKey } from "../checkpoint-key.js";
import type { CheckpointKey, Cursor } from "../types.js";
import type { ArtifactRef, ArtifactStore } from "./artifact-store.js";
import type { BackfillStore } from "./backfill-store.js";
import type { LeaseHandle } from "./lease.js";
import type { QuotaStore } from "./quota-store.js";

export type { LeaseHandle } from "./lease.js";

import type {
  FailureFilter,
  RunKind,
  RunRecord,
  StoredCheckpoint,
  StoredFailure,
  UnitRange,
} from "./records.js";

/**
 * The run side of the store seam: everything a run (and a redrive) needs, and nothing a
 * report reads. A new store implements this to run processors; `ReportStore` is separate.
 * Batching, ordering checks, retries and deadlines live in the core and are written once.
 *
 * Times are epoch milliseconds supplied by the caller, so that a run's clock (real or a
 * test's) decides expiry, except in a store that keeps its own clock for leases and expiry
 * (PostgreSQL judges by its server's, so that workers whose clocks disagree never steal a
 * live lease). Cursors and state cross this seam already validated:
 * the cursor as a string or number, the state as a string.
 *
 * `Tx` is what `processBatch` sees as `ctx.tx`: `run` refuses, at compile time, a processor
 * whose `Tx` the store does not provide.
 *
 * The calls of a run that can be cut (a deadline, signals handled) take a {@link CallBound}: a
 * store that can stall (a lock held by another session, a server that stopped answering)
 * gives up in time, and one that cannot may ignore it.
 */
export interface RunStore<Tx = unknown> {
  /** `memory`, `sqlite` or `postgres`: what the CLI shows and tests filter on. */
  readonly kind: string;

  /**
   * Takes the lease of a checkpoint for `owner`, creating an empty checkpoint row when there
   * is none. Succeeds when nobody holds the lease or the holder's lease expired before `now`
   * (by the store's clock, where it keeps one); each success increments the fencing token.
   * Returns the checkpoint as it was committed.
   */
  acquire(request: AcquireRequest, bound?: CallBound): Promise<AcquireResult>;

  /** Extends a held lease. Throws `FencedError` when `owner`/`fence` no longer hold it. */
  renew(lease: LeaseHandle, leaseTtlMs: number, now: number, bound?: CallBound): Promise<void>;

  /**
   * Opens the scope of one batch. `tx` is what `processBatch` sees as `ctx.tx`; the writes made
   * through it commit in the same transaction as the checkpoint, or not at all.
   */
  openBatch(lease: LeaseHandle): BatchScope<Tx>;

  /**
   * Clears a finished checkpoint (fenced), remembers when and by which run the partition last
   * completed, and records `run` (the run's `completed` history row), all in one transaction:
   * a completion that landed is found by {@link RunStore.readBack}, and history agrees with it.
   */
  complete(lease: LeaseHandle, now: number, run: RunRecord, bound?: CallBound): Promise<void>;

  /**
   * What the store holds for `key` now: the checkpoint and the run of its last completion.
   * The runner reads it back after a write whose reply was lost (a connection cut after the
   * statement was sent, an I/O error at COMMIT) to learn whether the write landed.
   */
  readBack(key: CheckpointKey, bound?: CallBound): Promise<ReadBack>;

  /**
   * Gives up a lease and keeps the checkpoint for the next run. A lost lease is no error.
   * With `discardEmpty`, a checkpoint that never committed a cursor is deleted instead (a
   * redrive's lease on a partition that has no checkpoint leaves nothing behind).
   */
  release(
    lease: LeaseHandle,
    now: number,
    options?: { discardEmpty?: boolean },
    bound?: CallBound,
  ): Promise<void>;

  /**
   * Inserts or replaces one run's history row (keyed by `runId`). A row already `completed`
   * is never replaced: the completion wrote it, and a later report of the same run (one that
   * could not learn its completion landed) must not contradict the store.
   */
  recordRun(run: RunRecord, bound?: CallBound): Promise<void>;

  /** When the checkpoint's partition (or shard) last completed, or null. */
  lastCompletedAt(key: CheckpointKey, bound?: CallBound): Promise<number | null>;

  /**
   * Entities that failed every attempt and were skipped (the failure ledger), ordered by
   * processor, partition, shard and first failure: the open entries unless `filter.status`
   * asks for resolved ones. A redrive reads its entries here.
   */
  listFailures(filter?: FailureFilter): Promise<StoredFailure[]>;

  /**
   * Blobs beside the checkpoint (`ctx.artifacts`). Optional: a store without it still
   * satisfies the contract, and `ctx.artifacts` then says the store does not keep artifacts.
   * A store that has it switches `CheckpointWrite.artifacts` in the batch's commit and
   * clears a checkpoint's artifacts when it completes or is deleted.
   */
  readonly artifacts?: ArtifactStore;

  /**
   * Backfills begun and finished, so that rerunning one (`runPartitions`, `waymark run
   * --from/--to`) does not run again the partitions it already completed. Optional: without
   * it a rerun runs every partition, each resuming from its own checkpoint.
   */
  readonly backfills?: BackfillStore;

  /**
   * Shared rate limits (`quota` of a processor or a run): one budget per key for every runner
   * of the store. Optional: a run with a quota on a store without it is refused.
   */
  readonly quotas?: QuotaStore;

  /** Releases connections and file handles. Idempotent. */
  close(): Promise<void>;
}

/**
 * The time a store call has before its run must end: its deadline, or the end of its shutdown
 * grace after a signal, then a short wind-up. A run that can be cut (it has a deadline, or
 * handles signals) passes one with every call, `endsAt` infinite until its end is known; one
 * that cannot passes none and pays nothing for it.
 *
 * A store honours it as far as it can: it waits for no lock past `endsAt` (SQLite's busy
 * timeout), and when `signal` aborts it cancels the call's work on the server (PostgreSQL) and
 * rejects with `STORE_TIMEOUT`, a `StoreError` whose `nothingLanded` says that nothing of the
 * call was applied. The run stops waiting at `signal` either way.
 */
export interface CallBound {
  /** Aborts when the call must give up. */
  readonly signal: AbortSignal;
  /** When the call must have settled, by `performance.now()`. */
  readonly endsAt: number;
}

/** What {@link RunStore.readBack} returns. */
export interface ReadBack {
  /** The checkpoint, or null when there is none (never created, completed, or reset). */
  readonly checkpoint: StoredCheckpoint | null;
  /** The run that last completed this key, or null when none did (or none that recorded it). */
  readonly completedBy: string | null;
}

/** What a runner asks for when it starts. */
export interface AcquireRequest extends CheckpointKey {
  readonly owner: string;
  readonly runId: string;
  readonly leaseTtlMs: number;
  readonly now: number;
  /**
   * `redrive` takes the lease without counting an attempt: a redrive resumes nothing.
   * @default "run"
   */
  readonly kind?: RunKind;
  /**
   * The start of the backfill this claim belongs to: when the key completed at or after it,
   * the claim answers `completed` and takes nothing, decided in the same transaction as the
   * lease. Absent: a completion is no reason not to run.
   */
  readonly completedSince?: number;
  /** The range and split digest a row created by this claim records. */
  readonly unit?: { readonly range: UnitRange; readonly layout: string };
  /**
   * Take only a row that exists (a shard made by a split): with none, the claim answers
   * `absent` and creates nothing.
   */
  readonly mustExist?: boolean;
}

/** The outcome of {@link RunStore.acquire}. */
export type AcquireResult =
  | {
      readonly acquired: true;
      readonly lease: LeaseHandle;
      readonly checkpoint: StoredCheckpoint;
      /**
       * The store's own clock when it took the lease, for a store that judges time itself
       * (PostgreSQL with its server's clock): the checkpoint's age is measured against it.
       * Absent where the runner's `now` decides.
       */
      readonly storeNow?: number;
      /**
       * The runner whose lease had expired unreleased when this one took it: it died or
       * stalled mid-run, and the batch it had in flight is processed again. Absent when the
       * lease was free.
       */
      readonly expiredHolder?: ExpiredHolder;
      /**
       * The cursors of this key's open ledger entries, read with the lease: a run resolves
       * those it processes in the batches that do. Absent from a store that does not read
       * them here; the runner then asks `listFailures` once.
       */
      readonly ledger?: readonly Cursor[];
    }
  | {
      readonly acquired: false;
      readonly holder: { readonly owner: string; readonly expiresAt: number };
    }
  | {
      /** The key completed at or after the request's `completedSince`: nothing to do. */
      readonly acquired: false;
      readonly completed: UnitDone;
    }
  | {
      /** `mustExist` was asked and there is no row (nor a completion since `completedSince`). */
      readonly acquired: false;
      readonly absent: true;
    };

/** A unit's completion as a claim finds it. */
export interface UnitDone {
  readonly at: number;
  readonly runId: string | null;
  /**
   * The static split it completed under (its checkpoint's `layout`), null on older rows: a
   * completion under another split covered other ids.
   */
  readonly layout: string | null;
  /** The range it covered, when recorded. */
  readonly range: UnitRange | null;
}

/** A lease holder that neither renewed nor released its lease in time. */
export interface ExpiredHolder {
  readonly owner: string;
  /** Its run, when the checkpoint recorded one. */
  readonly runId: string | null;
}

/** One skipped entity as a batch commits it. */
export interface FailureWrite {
  readonly cursor: Cursor;
  /** The last error, as `Name: message`, with any NUL or unpaired surrogate escaped (`\u0000`). */
  readonly error: string;
  /**
   * Calls that failed for it in this run; added to what the ledger already holds. A resolved
   * entry of the same entity is opened again.
   */
  readonly attempts: number;
}

/** What every commit carries: the lease's renewal and the batch's ledger changes. */
interface CommitBase {
  readonly leaseTtlMs: number;
  readonly now: number;
  /** Entities skipped by this batch, recorded in the failure ledger in the same transaction. */
  readonly failures?: readonly FailureWrite[];
  /**
   * Open ledger entries (by cursor) whose entity this commit processed successfully: marked
   * resolved (at `now`, by the lease's run) in the same transaction, kept for the record.
   */
  readonly resolvedFailures?: readonly Cursor[];
  /** The batch's number in its run (`ctx.batchNumber`), for a store's messages. */
  readonly batchNumber?: number;
}

/** A batch's progress: the checkpoint moves to `cursor` with its counts, state and artifacts. */
export interface BatchCommit extends CommitBase {
  readonly kind: "batch";
  readonly processorVersion: number;
  /** Null only while a checkpoint has no progress yet. */
  readonly cursor: Cursor | null;
  readonly completed: number;
  readonly total: number | null;
  readonly state: string | null;
  /** The name of the codec that encoded `state`, recorded with it. */
  readonly stateCodec: string;
  readonly fingerprint: string | null;
  /** Artifacts this batch put: their references switch in the same transaction. */
  readonly artifacts?: readonly ArtifactRef[];
}

/**
 * A commit that leaves the checkpoint as it is (cursor, counts, state, fingerprint, artifacts
 * and `updatedAt`, its age): only the batch's `ctx.tx` writes and ledger changes land, and the
 * lease is renewed. What a redrive commits.
 */
export interface LedgerCommit extends CommitBase {
  readonly kind: "ledger";
}

/** What one batch commits, under the lease. */
export type CheckpointWrite = BatchCommit | LedgerCommit;

/** One batch's transaction scope. Exactly one of `commit` or `rollback` is called. */
export interface BatchScope<Tx> {
  /** The handle `processBatch` writes through (`ctx.tx`). */
  readonly tx: Tx;
  /** Applies the batch's writes and the checkpoint atomically; `FencedError` if the lease is lost. */
  commit(write: CheckpointWrite, bound?: CallBound): Promise<void>;
  /** Discards the batch's writes. */
  rollback(): Promise<void>;
}

/** The message every store uses when a lease was lost, so that users see one wording. */
export function fencedMessage(lease: LeaseHandle): string {
  return (
    `Lease lost for ${describeKey(lease)} (fence ${lease.fence}): another runner ` +
    "took it over after this one's lease expired. Nothing more was committed by this run; " +
    "raise leaseTtlMs if batches legitimately run longer than the lease."
  );
}

/**
 * The error a run still marked `running` gets when another run takes its expired lease over:
 * its process stopped without recording an outcome. Every store's `acquire` records it, with
 * `processed` set from the checkpoint's committed count, so history shows where it died.
 */
export function abandonedRunError(takenOverBy: string): string {
  return (
    "Abandoned: the process running it stopped without recording an outcome; run " +
    `${takenOverBy} took its checkpoint over from the last commit.`
  );
}

/** The successful outcome of `acquire`: the lease carries the checkpoint's new fence. */
export function acquiredLease(
  request: AcquireRequest,
  checkpoint: StoredCheckpoint,
  read: {
    readonly storeNow?: number;
    readonly ledger?: readonly Cursor[];
    readonly expiredHolder?: ExpiredHolder | null;
  } = {},
): AcquireResult {
  const lease: LeaseHandle = {
    processor: request.processor,
    partition: request.partition,
    shard: request.shard,
    owner: request.owner,
    fence: checkpoint.fence,
    runId: request.runId,
  };
  const { storeNow, ledger, expiredHolder } = read;
  return {
    acquired: true,
    lease,
    checkpoint,
    ...(storeNow === undefined ? {} : { storeNow }),
    ...(ledger === undefined ? {} : { ledger }),
    ...(expiredHolder ? { expiredHolder } : {}),
  };
}
