import { classifyWriteError } from "./batch-failure.js";
import { describeKey } from "./checkpoint-key.js";
import { FencedError, StoreError } from "./errors.js";
import type { RunRecord } from "./store/records.js";
import type {
  AcquireRequest,
  AcquireResult,
  BatchScope,
  CheckpointWrite,
  LeaseHandle,
  ReadBack,
  RunStore,
} from "./store/run-store.js";
import { acquiredLease, fencedMessage } from "./store/run-store.js";

/**
 * Indeterminate is a state, not an error. A store write whose reply was lost (a connection
 * cut after the statement was sent, an I/O error at COMMIT) may or may not have happened.
 * Before anything is retried or reported, the runner reads the store back and carries on as
 * the store says: as if the reply had arrived, or with the write's own error. Only when even
 * the read back fails is the outcome reported as unknown (`OUTCOME_UNKNOWN`).
 */

/** How to read back: the run's `sleep` between attempts (tests inject one that returns). */
export interface ReadBackPolicy {
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Reads tried before the outcome is reported unknown. @default 6 (about 3 s) */
  readonly attempts?: number;
}

const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 1000;
const NEVER = new AbortController().signal;

/** Reads the key back, retrying while the store itself fails; throws OUTCOME_UNKNOWN at the end. */
async function readBack(
  store: RunStore,
  lease: Pick<LeaseHandle, "processor" | "partition" | "shard">,
  cause: unknown,
  what: string,
  policy: ReadBackPolicy,
): Promise<ReadBack> {
  const attempts = policy.attempts ?? 6;
  let last: unknown = cause;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) {
      await policy.sleep(Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempt - 1)), NEVER);
    }
    try {
      return await store.readBack(lease);
    } catch (error) {
      if (classifyWriteError(error) !== "indeterminate") throw error;
      last = error;
    }
  }
  const detail = last instanceof Error ? last.message : String(last);
  throw new StoreError(
    "OUTCOME_UNKNOWN",
    `The store did not answer after ${what} of ${describeKey(lease)} was sent, nor when asked ` +
      `${attempts} times whether it landed (${detail}). It may have landed: the next run reads ` +
      "the checkpoint and resumes from whatever did (`waymark runs` shows this run `completed` " +
      "if its completion landed). Check the store's connection.",
    {
      cause,
      ...(cause instanceof StoreError && cause.location ? { location: cause.location } : {}),
    },
  );
}

/**
 * Takes the lease; when the reply was lost, reads back whether this runner (its owner and run
 * id) holds it now, so that a lease taken but unanswered does not block the partition.
 */
export async function acquireResolved(
  store: RunStore,
  request: AcquireRequest,
  policy: ReadBackPolicy,
): Promise<AcquireResult> {
  const attempts = policy.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.acquire(request);
    } catch (error) {
      if (classifyWriteError(error) !== "indeterminate") throw error;
      const { checkpoint } = await readBack(store, request, error, "taking the lease", policy);
      if (checkpoint?.leaseOwner === request.owner && checkpoint.runId === request.runId) {
        return acquiredLease(request, checkpoint);
      }
      // Known not to have landed, and nothing was done under it yet: simply ask again.
      if (attempt >= attempts) throw error;
    }
  }
}

/**
 * Commits one batch; when the reply was lost, reads back the checkpoint: this lease's fence
 * and owner with this batch's cursor and count mean it landed, and the run goes on as if the
 * reply had arrived. Otherwise the commit's own error (or `FENCED`) is thrown.
 */
export async function commitResolved(
  store: RunStore,
  scope: BatchScope<unknown>,
  lease: LeaseHandle,
  write: CheckpointWrite,
  policy: ReadBackPolicy,
): Promise<void> {
  try {
    await scope.commit(write);
  } catch (error) {
    if (classifyWriteError(error) !== "indeterminate") throw error;
    const { checkpoint } = await readBack(store, lease, error, "a checkpoint commit", policy);
    if (!checkpoint || checkpoint.fence !== lease.fence || checkpoint.leaseOwner !== lease.owner) {
      throw new FencedError(fencedMessage(lease));
    }
    if (write.keepCheckpoint) {
      // A redrive leaves the cursor alone: its commit shows in the ledger entries it removed.
      const fixed = new Set((write.resolvedFailures ?? []).map((c) => JSON.stringify(c)));
      if (fixed.size === 0) throw error;
      const ledger = await store.listFailures(lease);
      if (ledger.some((f) => fixed.has(JSON.stringify(f.cursor)))) throw error;
      return;
    }
    if (checkpoint.cursor === write.cursor && checkpoint.completed === write.completed) {
      return;
    }
    throw error;
  }
}

/**
 * Completes the checkpoint and records the run; when the reply was lost, reads back the
 * completion record: this run's id there means it landed, and the run is `completed`.
 */
export async function completeResolved(
  store: RunStore,
  lease: LeaseHandle,
  now: number,
  record: RunRecord,
  policy: ReadBackPolicy,
): Promise<void> {
  try {
    await store.complete(lease, now, record);
  } catch (error) {
    if (classifyWriteError(error) !== "indeterminate") throw error;
    const back = await readBack(store, lease, error, "the completion", policy);
    if (back.completedBy === lease.runId) return;
    const held =
      back.checkpoint?.fence === lease.fence && back.checkpoint.leaseOwner === lease.owner;
    throw held ? error : new FencedError(fencedMessage(lease));
  }
}

/**
 * Runs a write that is safe to repeat (a history row, a lease release), trying again while
 * the store fails; throws the last error.
 */
export async function idempotent(
  write: () => Promise<void>,
  policy: ReadBackPolicy,
): Promise<void> {
  const attempts = policy.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= attempts || classifyWriteError(error) !== "indeterminate") throw error;
      await policy.sleep(Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempt - 1)), NEVER);
    }
  }
}
