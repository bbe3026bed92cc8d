import { performance } from "node:perf_hooks";
import { classifyWriteError, isStoreFailure } from "../batch-failure.js";
import { describeKey } from "../checkpoint-key.js";
import { FencedError, StoreError } from "../errors.js";
import type { RunBound } from "../policies/store-bound.js";
import { storableText } from "../stored-text.js";
import type { CheckpointKey, Cursor, Logger } from "../types.js";
import type { BackfillOpen, BackfillRecord, SplitAnswer, UnitListing } from "./backfill-store.js";
import { callWithin, outOfTime } from "./bounded-call.js";
import type { FailureFilter, RunRecord, StoredFailure } from "./records.js";
import type {
  AcquireRequest,
  AcquireResult,
  BatchScope,
  CallBound,
  CheckpointWrite,
  LeaseHandle,
  ReadBack,
  RunStore,
} from "./run-store.js";
import { acquiredLease, fencedMessage } from "./run-store.js";

/**
 * Indeterminate is a state, not an error. A store write whose reply was lost (a connection
 * cut after the statement was sent, an I/O error at COMMIT) may or may not have happened.
 * Before anything is retried or reported, the runner reads the store back and carries on as
 * the store says: as if the reply had arrived, or with the write's own error. Only when even
 * the read-back fails is the outcome reported as unknown (`OUTCOME_UNKNOWN`).
 *
 * {@link GuardedStore} does this for every write of the run side, so that no entry point (run,
 * redrive, a backfill, the pg-boss worker) can forget it: each wraps its store once, in the
 * run's setup, and writes only through the wrapper. `npm run lint` fails on a raw store write
 * anywhere else in `src/core`.
 *
 * A stalled store never outlives the run's end either. In a run that can be cut (a deadline,
 * signals handled), every call carries the time the run has left, and the wrapper stops
 * waiting at the end (bounded-call.ts); a cancelled write is read back like a lost reply.
 */

/** How a {@link GuardedStore} reads back and tries again. */
export interface GuardPolicy {
  /** The run's `sleep` between attempts (tests inject one that returns at once). */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Where a failed release or history write is reported; they never fail the run. */
  readonly logger: Logger;
  /** Reads (and idempotent writes) tried before giving up. @default 6 (about 3 s) */
  readonly attempts?: number;
  /** The bound of a call made now, or null while there is none (the run's stopper says). */
  readonly bound?: () => RunBound | null;
}

const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 1000;
const NEVER = new AbortController().signal;

/**
 * A history row whose error text a store can take as it is: an error message from user code
 * may hold a NUL or an unpaired surrogate (see stored-text.ts).
 */
function storableRun(record: RunRecord): RunRecord {
  const error = record.error === null ? null : storableText(record.error);
  return error === record.error ? record : { ...record, error };
}

/** A commit whose ledger errors a store can take as they are; most commit none at all. */
function storableWrite(write: CheckpointWrite): CheckpointWrite {
  const failures = write.failures;
  if (!failures?.some((f) => storableText(f.error) !== f.error)) return write;
  return { ...write, failures: failures.map((f) => ({ ...f, error: storableText(f.error) })) };
}

/**
 * The run side of a store as every entry point writes to it: each write whose reply was lost
 * is resolved by reading the store back (acquire, batch commit, completion), repeated where it
 * is safe to repeat (renewal, release, history), and cleanup (release, history) never fails
 * the invocation that calls it. Error text from user code is escaped on its way in, so that a
 * write never fails on its content. Reads go straight through.
 */
export class GuardedStore<Tx = unknown> {
  readonly #store: RunStore<Tx>;
  readonly #policy: GuardPolicy;

  constructor(store: RunStore<Tx>, policy: GuardPolicy) {
    this.#store = store;
    this.#policy = policy;
  }

  /** `memory`, `sqlite` or `postgres`. */
  get kind(): string {
    return this.#store.kind;
  }

  /** The store's artifacts capability, when it has one (blobs are written by `RunArtifacts`). */
  get artifacts(): RunStore<Tx>["artifacts"] {
    return this.#store.artifacts;
  }

  /** Whether the store keeps backfill records. */
  get keepsBackfills(): boolean {
    return this.#store.backfills !== undefined;
  }

  /**
   * Takes the lease; when the reply was lost, reads back whether this runner (its owner and run
   * id) holds it now, so that a lease taken but unanswered does not block the partition.
   */
  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    const attempts = this.#policy.attempts ?? 6;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#call("the claim of the lease", request, (bound) =>
          this.#store.acquire(request, bound),
        );
      } catch (error) {
        if (!isStoreFailure(error)) throw error;
        // Even a claim known not to have landed reads back: the read paces the next claim,
        // and finds the store back before it is asked again.
        const { checkpoint } = await this.#readBack(request, error, "taking the lease");
        if (checkpoint?.leaseOwner === request.owner && checkpoint.runId === request.runId) {
          return acquiredLease(request, checkpoint);
        }
        // Known not to have landed, and nothing was done under it yet: simply ask again,
        // unless the run's time is up (asking again would stall the same way).
        if (attempt >= attempts || outOfTime(error)) throw error;
      }
    }
  }

  /** Extends a held lease, again while the store fails; `FencedError` when it was lost. */
  renew(lease: LeaseHandle, leaseTtlMs: number, now: number): Promise<void> {
    return this.#repeat(() =>
      this.#call("the renewal of the lease", lease, (bound) =>
        this.#store.renew(lease, leaseTtlMs, now, bound),
      ),
    );
  }

  /** Opens the scope of one batch; commit it with {@link GuardedStore.commit}. */
  openBatch(lease: LeaseHandle): BatchScope<Tx> {
    return this.#store.openBatch(lease);
  }

  /**
   * Commits one batch; when the reply was lost, reads back the checkpoint: this lease's fence
   * and owner with this batch's cursor and count mean it landed, and the run goes on as if the
   * reply had arrived. Otherwise the commit's own error (or `FENCED`) is thrown.
   */
  async commit(scope: BatchScope<Tx>, lease: LeaseHandle, write: CheckpointWrite): Promise<void> {
    try {
      const storable = storableWrite(write);
      await this.#call("the checkpoint commit", lease, (bound) => scope.commit(storable, bound));
    } catch (error) {
      if (classifyWriteError(error) !== "indeterminate") throw error;
      if (!(await this.#commitLanded(lease, write, error))) throw error;
    }
  }

  async #commitLanded(lease: LeaseHandle, write: CheckpointWrite, error: unknown) {
    const { checkpoint } = await this.#readBack(lease, error, "a checkpoint commit");
    if (!checkpoint || checkpoint.fence !== lease.fence || checkpoint.leaseOwner !== lease.owner) {
      throw new FencedError(fencedMessage(lease));
    }
    if (write.kind === "batch") {
      return checkpoint.cursor === write.cursor && checkpoint.completed === write.completed;
    }
    // A ledger commit leaves the cursor alone: it shows in the ledger entries it resolved.
    return this.#resolvedInLedger(lease, write.resolvedFailures ?? []);
  }

  async #resolvedInLedger(key: CheckpointKey, cursors: readonly Cursor[]): Promise<boolean> {
    if (cursors.length === 0) return false;
    const fixed = new Set(cursors.map((c) => JSON.stringify(c)));
    const ledger = await this.listFailures(key);
    return !ledger.some((f) => fixed.has(JSON.stringify(f.cursor)));
  }

  /**
   * Completes the checkpoint and records the run; when the reply was lost, reads back the
   * completion record: this run's id there means it landed, and the run is `completed`. One
   * known not to have landed, under a lease still held, is written again.
   */
  async complete(lease: LeaseHandle, now: number, record: RunRecord): Promise<void> {
    const attempts = this.#policy.attempts ?? 6;
    const storable = storableRun(record);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#call("the completion", lease, (bound) =>
          this.#store.complete(lease, now, storable, bound),
        );
      } catch (error) {
        if (classifyWriteError(error) !== "indeterminate") throw error;
        const back = await this.#readBack(lease, error, "the completion");
        if (back.completedBy === lease.runId) return;
        const held =
          back.checkpoint?.fence === lease.fence && back.checkpoint.leaseOwner === lease.owner;
        if (!held) throw new FencedError(fencedMessage(lease));
        // Known not to have landed, and the lease is still this run's: simply complete again,
        // unless the run's time is up.
        if (attempt >= attempts || outOfTime(error)) throw error;
        await this.#pause(attempt);
      }
    }
  }

  /**
   * Gives the lease back, again while the store fails. Never throws: a lease that could not
   * be released expires by itself, and the invocation's own outcome is what matters. Resolves
   * to whether the release landed. Near the run's end it takes at most half the time left,
   * so that the history row written after it still has the rest.
   */
  async release(
    lease: LeaseHandle,
    now: number,
    options?: { discardEmpty?: boolean },
  ): Promise<boolean> {
    try {
      await this.#repeat(() =>
        this.#call(
          "the release of the lease",
          lease,
          (bound) => this.#store.release(lease, now, options, bound),
          0.5,
        ),
      );
      return true;
    } catch (error) {
      this.#policy.logger.warn(
        `Could not release the lease of ${describeKey(lease)}: ${(error as Error).message}. ` +
          "It expires by itself.",
      );
      return false;
    }
  }

  /** Writes a history row, again while the store fails. Never throws; resolves to whether it landed. */
  async recordRun(record: RunRecord): Promise<boolean> {
    try {
      const storable = storableRun(record);
      await this.#repeat(() =>
        this.#call("the history row", record, (bound) => this.#store.recordRun(storable, bound)),
      );
      return true;
    } catch (error) {
      this.#policy.logger.warn(
        `Could not record run ${record.runId} in history: ${(error as Error).message}`,
      );
      return false;
    }
  }

  /** Opens (resumes or begins) a backfill record, again while the store fails. */
  async openBackfill(request: BackfillOpen): Promise<BackfillRecord | null> {
    const backfills = this.#store.backfills;
    if (!backfills) return null;
    // Opening twice is the same as once: the second call resumes what the first began.
    return this.#repeat(() => backfills.open({ ...request, restart: request.restart }));
  }

  /** Marks a backfill finished. Never throws: if it is lost, the next run finds every partition done. */
  async finishBackfill(record: BackfillRecord, now: number): Promise<void> {
    const backfills = this.#store.backfills;
    if (!backfills) return;
    await this.#repeat(() => backfills.finish(record, now)).catch((error: Error) => {
      this.#policy.logger.warn(
        `Could not mark the backfill of ${record.processor} finished: ${error.message}`,
      );
    });
  }

  /** What the store holds for `key` now (see {@link RunStore.readBack}). */
  readBack(key: CheckpointKey): Promise<ReadBack> {
    return this.#call("a read of the checkpoint", key, (bound) => this.#store.readBack(key, bound));
  }

  /** When the checkpoint's partition (or shard) last completed, or null; again while the store fails. */
  lastCompletedAt(key: CheckpointKey): Promise<number | null> {
    return this.#repeat(() =>
      this.#call("a read of the last completion", key, (bound) =>
        this.#store.lastCompletedAt(key, bound),
      ),
    );
  }

  /** The failure ledger's entries for a filter; again while the store fails. */
  listFailures(filter?: FailureFilter): Promise<StoredFailure[]> {
    return this.#repeat(() =>
      this.#call("a read of the failure ledger", null, () => this.#store.listFailures(filter)),
    );
  }

  /**
   * The checkpoints and the completions (since `since`) of a backfill's partitions, or null
   * for a store that keeps no backfills. A read: what it says is decided again by `acquire`.
   */
  async listUnits(
    processor: string,
    partitions: readonly string[] | null,
    since: number,
  ): Promise<UnitListing | null> {
    const backfills = this.#store.backfills;
    if (!backfills) return null;
    return this.#repeat(() => backfills.listUnits(processor, partitions, since));
  }

  /** Asks the live holder of `key` to split; false when it cannot be asked (see the store). */
  async requestSplit(key: CheckpointKey, by: string, now: number): Promise<boolean> {
    const backfills = this.#store.backfills;
    if (!backfills) return false;
    return this.#repeat(() => backfills.requestSplit(key, by, now));
  }

  /**
   * The holder's answer to a split request, under its lease; when the reply was lost, reads
   * back the checkpoint: its range ending at the split point (or the request cleared with this
   * note) means it landed.
   */
  async answerSplit(lease: LeaseHandle, answer: SplitAnswer, now: number): Promise<void> {
    const backfills = this.#store.backfills;
    if (!backfills) return;
    try {
      await backfills.answerSplit(lease, answer, now);
    } catch (error) {
      if (classifyWriteError(error) !== "indeterminate") throw error;
      const { checkpoint } = await this.#readBack(lease, error, "a split");
      if (
        !checkpoint ||
        checkpoint.fence !== lease.fence ||
        checkpoint.leaseOwner !== lease.owner
      ) {
        throw new FencedError(fencedMessage(lease));
      }
      const landed =
        answer.kind === "split"
          ? checkpoint.range?.to === answer.at
          : checkpoint.splitRequest === null && checkpoint.splitNote === answer.note;
      if (!landed) throw error;
    }
  }

  /**
   * Reads the key back, retrying while the store itself fails, as long as the run has time;
   * throws OUTCOME_UNKNOWN at the end, or the write's own error when it never reached the
   * store (its outcome is known: nothing landed).
   */
  async #readBack(key: CheckpointKey, cause: unknown, what: string): Promise<ReadBack> {
    const attempts = this.#policy.attempts ?? 6;
    let last: unknown = cause;
    let asked = 0;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await this.#pause(attempt);
      try {
        asked++;
        return await this.#call("a read-back", key, (bound) => this.#store.readBack(key, bound));
      } catch (error) {
        last = error;
        if (outOfTime(error)) break;
        if (!isStoreFailure(error)) throw error;
      }
    }
    if (cause instanceof StoreError && cause.nothingLanded) throw cause;
    const detail = last instanceof Error ? last.message : String(last);
    throw new StoreError(
      "OUTCOME_UNKNOWN",
      `The store did not answer after ${what} of ${describeKey(key)} was sent, nor when asked ` +
        `${asked === 1 ? "once" : `${asked} times`} whether it landed (${detail}). It may have ` +
        "landed: the next run reads the checkpoint and resumes from whatever did (`waymark " +
        "runs` shows this run `completed` if its completion landed). Check the store's connection.",
      {
        cause,
        ...(cause instanceof StoreError && cause.location ? { location: cause.location } : {}),
      },
    );
  }

  /** Runs a write that is safe to repeat, trying again while the store fails; throws the last error. */
  async #repeat<T>(write: () => Promise<T>): Promise<T> {
    const attempts = this.#policy.attempts ?? 6;
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        // Safe to repeat: whether the failed attempt landed does not matter.
        if (attempt >= attempts || !isStoreFailure(error) || outOfTime(error)) throw error;
        await this.#pause(attempt);
      }
    }
  }

  /** Waits before the next attempt; near the run's end no longer than the time left. */
  #pause(attempt: number): Promise<void> {
    const ms = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempt - 1));
    const bound = this.#policy.bound?.() ?? null;
    if (bound === null) return this.#policy.sleep(ms, NEVER);
    // The next call finds no time left and says so; the wait itself never fails.
    const left = Math.max(0, bound.endsAt - performance.now());
    return this.#policy.sleep(Math.min(ms, left), bound.signal).catch(() => {});
  }

  /**
   * Makes one call of `what` (about `key`), within the run's bound when it has one: with
   * `share`, at most that share of the time left. Without a bound, the call itself.
   */
  #call<T>(
    what: string,
    key: CheckpointKey | null,
    call: (bound?: CallBound) => Promise<T>,
    share = 1,
  ): Promise<T> {
    const bound = this.#policy.bound?.() ?? null;
    return bound === null ? call() : callWithin(bound, this.#policy.bound, what, key, call, share);
  }
}
