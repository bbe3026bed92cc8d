import { performance } from "node:perf_hooks";
import type { BatchArtifacts, RunArtifacts } from "./artifacts.js";
import { isSkippable, whyNotRetried } from "./batch-failure.js";
import { reachTotal, type TotalTally } from "./count.js";
import { FencedError, isRateLimited, WaymarkError } from "./errors.js";
import { idempotencyKeyOf } from "./idempotency.js";
import { writesDebug } from "./logger.js";
import type { OpenLedger } from "./open-ledger.js";
import { BatchTimer } from "./policies/batch-timeout.js";
import type { BreakerAdapter } from "./policies/breaker.js";
import type { DeadlinePlanner } from "./policies/deadline.js";
import { noQuota, pauseForRateLimit, type QuotaHandle, type RunQuota } from "./policies/quota.js";
import { type RetryPolicy, retryDelay } from "./policies/retry.js";
import { bisect } from "./policies/skip.js";
import { RunStoppedError, type RunStopper } from "./policies/stop.js";
import type { Processor } from "./processor.js";
import type { ResolvedRunOptions } from "./run-options.js";
import type { Shard } from "./shards.js";
import { codecOf, decodeState, encodeState } from "./state.js";
import type { GuardedStore } from "./store/guarded-store.js";
import type { BatchScope, CheckpointWrite, FailureWrite, LeaseHandle } from "./store/run-store.js";
import type { Cursor, SuspendReason } from "./types.js";

/** A run's progress, shared by the runner (which reports it) and the executor (which moves it). */
export interface RunTally<S> extends TotalTally {
  completed: number;
  processed: number;
  skipped: number;
  batches: number;
  checkpointMs: number;
  cursor: Cursor | null;
  /** The live state `processBatch` sees. */
  state: S;
  /** The last committed state, encoded with the processor's codec: what a failed batch restores. */
  committedState: string | null;
}

/** Where a run starts counting: nothing done, or the committed progress it resumes from. */
export interface TallyStart<S> {
  readonly completed: number;
  readonly total: number | null;
  readonly cursor: Cursor | null;
  readonly state: S;
}

/**
 * The tally of one invocation (a run, a redrive): the one place it is built. `committedState`
 * is filled by the caller once the state is encoded (encoding may refuse it).
 */
export function createTally<S>(start: TallyStart<S>): RunTally<S> {
  return {
    completed: start.completed,
    total: start.total,
    totalGrew: false,
    processed: 0,
    skipped: 0,
    batches: 0,
    checkpointMs: 0,
    cursor: start.cursor,
    state: start.state,
    committedState: null,
  };
}

/** What one committed batch cost, for adaptive sizing and deadline planning. */
export interface BatchTiming {
  readonly workMs: number;
  readonly commitMs: number;
}

/** What the executor works with; all of it belongs to one run. */
export interface ExecutorContext<E, S, Tx> {
  readonly processor: Processor<E, S, Tx>;
  readonly options: ResolvedRunOptions;
  /** The run's guarded store: every write of the batch path goes through it. */
  readonly store: GuardedStore<Tx>;
  readonly lease: LeaseHandle;
  /** The shard this run covers now (`ctx.shard`), or null for a whole, unsplit partition. */
  readonly shardOf: () => Shard | null;
  readonly where: string;
  readonly tally: RunTally<S>;
  readonly stopper: RunStopper;
  readonly planner: DeadlinePlanner | null;
  readonly breaker: BreakerAdapter | null;
  readonly retry: RetryPolicy;
  /** Measures batches: the run's own clock when one was injected, else a monotonic one. */
  readonly clock: () => number;
  /** The run's artifacts: each attempt stages its own, committed with its checkpoint. */
  readonly artifacts: RunArtifacts;
  /** The run's quotas: tokens taken before each batch; null without any. */
  readonly quota: RunQuota | null;
  /** The input fingerprint every commit records. */
  readonly fingerprint: () => string | null;
  /** Called after every commit with its entity count and commit time. */
  readonly onCommitted: (entities: number, commitMs: number) => void;
  /** The key's open ledger entries, resolved by the batches that process them; null for none. */
  readonly ledger?: OpenLedger | null;
}

/** What one commit carries besides the batch. */
interface CommitPlan {
  /** Skipped entities recorded in the failure ledger in the same transaction. */
  readonly failures?: readonly FailureWrite[];
  /** Ledger entries whose entity the batch processed, resolved in the same transaction. */
  readonly resolved?: readonly Cursor[];
  /** A redrive's commit: the checkpoint stays as it is, only the ledger changes. */
  readonly ledgerOnly?: boolean;
}

/** A batch that ran without error and waits for its commit. */
interface Prepared<S, Tx> {
  readonly scope: BatchScope<Tx>;
  /** Null for a commit that only moves the cursor past skipped entities. */
  readonly artifacts: BatchArtifacts | null;
  readonly state: S;
  /** The state encoded for the commit. */
  readonly stateText: string | null;
  readonly workMs: number;
}

/**
 * Runs one batch under the run's policies: processBatch in its transaction scope, retries
 * with backoff, the circuit breaker, stops (signal, deadline, lost lease), skipping by
 * bisection, and the commit of checkpoint, state and ledger.
 */
export class BatchExecutor<E, S, Tx> {
  readonly #context: ExecutorContext<E, S, Tx>;
  /** `ctx.idempotencyKey`: the same for every batch of the run, so made once. */
  readonly #idempotencyKey: (entity: unknown) => string;
  /** `ctx.quota`: the same for every batch of the run. */
  readonly #quota: (key: string) => QuotaHandle;

  constructor(context: ExecutorContext<E, S, Tx>) {
    this.#context = context;
    this.#quota = context.quota?.handle ?? noQuota(context.where);
    const { processor, options } = context;
    this.#idempotencyKey = (entity) =>
      idempotencyKeyOf(
        processor.name,
        processor.version,
        options.partition,
        processor.id(entity as E),
      );
  }

  /** Why the next batch (of `size`) must not start, or null. A lost lease throws. */
  stopBefore(size: number): SuspendReason | null {
    const { stopper, breaker, planner, options } = this.#context;
    const reason: unknown = stopper.signal.reason;
    if (reason instanceof FencedError) throw reason;
    let stop: SuspendReason | null = null;
    let why = "";
    if (stopper.requested) [stop, why] = [stopper.requested, "a stop was requested"];
    else if (breaker?.isOpen()) [stop, why] = ["circuit-open", "the circuit breaker is open"];
    else if (planner?.wouldOverrun(options.now(), size)) {
      stop = "deadline";
      why =
        `a batch of ${size} takes about ${Math.round(planner.estimate(size))} ms and the ` +
        `deadline ${new Date(planner.deadline).toISOString()} keeps a ${options.deadlineMarginMs} ms margin`;
    }
    if (stop)
      options.logger.debug(
        `Stopping ${this.#context.where} before the next batch (${stop}): ${why}.`,
      );
    return stop;
  }

  /** Processes and commits `batch`; null when it was searched for failures and partly skipped. */
  async run(batch: E[], cursor: Cursor): Promise<BatchTiming | null> {
    // The ledger counts the calls that failed: fewer than the policy allows when not retried.
    let calls = 0;
    try {
      return await this.#withRetries(batch.length, () => {
        calls++;
        return this.#attempt(batch, cursor);
      });
    } catch (error) {
      if (!this.#context.processor.skip || !isSkippable(error)) throw error;
      await this.#isolateFailures(batch, cursor, error as Error, calls);
      return null;
    }
  }

  /**
   * Redrives one entity of the failure ledger through the same attempt as a batch (context,
   * retries, breaker, fencing). Its commit keeps the checkpoint as it is (cursor, counts,
   * state, artifacts and age) and takes the entity out of the ledger. Resolves to null, or to
   * the error it still fails with; its ledger entry then carries that error.
   */
  async redrive(entity: E): Promise<Error | null> {
    const id = this.#context.processor.id(entity);
    let calls = 0;
    try {
      await this.#withRetries(1, () => {
        calls++;
        return this.#attempt([entity], id, { ledgerOnly: true, resolved: [id] });
      });
      return null;
    } catch (error) {
      if (!isSkippable(error)) throw error;
      const { name, message } = error as Error;
      const failure = { cursor: id, error: `${name}: ${message}`, attempts: calls };
      await this.#withRetries(0, () =>
        this.#commit(this.#unchanged(), 0, id, { ledgerOnly: true, failures: [failure] }),
      );
      return error as Error;
    }
  }

  /**
   * One attempt at a batch: processBatch, then its commit. A commit that fails (a `ctx.tx`
   * statement, the store) fails the attempt exactly as an error thrown by processBatch does,
   * so retries and skipping treat both alike on every store.
   */
  async #attempt(batch: E[], cursor: Cursor, plan: CommitPlan = {}): Promise<BatchTiming> {
    let prepared: Prepared<S, Tx>;
    for (;;) {
      try {
        prepared = await this.#tryBatch(batch);
        break;
      } catch (error) {
        // A 429 pauses (every runner of the quota) and tries again: not a failed attempt.
        if (!isRateLimited(error)) throw error;
        await pauseForRateLimit(error, this.#context.quota, this.#context, batch.length);
      }
    }
    // Most runs have no open ledger entries: then this is one property read.
    const resolved = plan.ledgerOnly
      ? undefined
      : this.#context.ledger?.within(batch, this.#context.processor.id);
    const commitMs = await this.#commit(
      prepared,
      batch.length,
      cursor,
      resolved ? { ...plan, resolved } : plan,
    );
    return { workMs: prepared.workMs, commitMs };
  }

  /** A commit with nothing processed: the cursor moves past skips, or the ledger changes. */
  #unchanged(): Prepared<S, Tx> {
    const { store, tally, lease } = this.#context;
    return {
      scope: store.openBatch(lease),
      artifacts: null,
      state: tally.state,
      stateText: tally.committedState,
      workMs: 0,
    };
  }

  /** Bisects a batch that failed for good, committing what works, skipping the rest. */
  async #isolateFailures(
    batch: E[],
    cursor: Cursor,
    batchError: Error,
    batchCalls: number,
  ): Promise<void> {
    const { processor: p, tally, where, options } = this.#context;
    const skip = p.skip as NonNullable<Processor<E, S, Tx>["skip"]>;
    const pending: FailureWrite[] = [];
    options.logger.warn(
      `Batch ${tally.batches + 1} of ${where} failed for good (${batchError.message}); ` +
        "searching it for the failing entities.",
    );
    await bisect(batch, batchError, batchCalls, {
      tryPart: async (part) => {
        // A stop (deadline, signal, open breaker) applies between parts as between batches;
        // skips found so far are simply found again by the next run.
        const stop = this.stopBefore(part.length);
        if (stop) throw new RunStoppedError(stop, `Stopped while searching a batch (${stop}).`);
        const last = p.id(part[part.length - 1] as E);
        // The skips found so far go with the first part that commits, in its transaction.
        const attempt = () => this.#attempt(part, last, { failures: [...pending] });
        try {
          await (skip.retryable ? this.#withRetries(part.length, attempt) : attempt());
        } catch (error) {
          if (!isSkippable(error)) throw error;
          return error as Error;
        }
        pending.length = 0;
        return null;
      },
      failed: (entity, error, failedCalls) => {
        const id = p.id(entity);
        // Skips count once committed; the limit also counts those waiting for the next commit.
        const skipped = tally.skipped + pending.length + 1;
        if (skipped > skip.limit) {
          throw new WaymarkError(
            "SKIP_LIMIT",
            `${where}: entity ${JSON.stringify(id)} failed (${error.message}), making ` +
              `${skipped} skipped this run, past skip.limit (${skip.limit}). Fix the cause ` +
              "or raise skip.limit; entities skipped so far are in `waymark failures`.",
          );
        }
        options.logger.warn(`Skipped entity ${JSON.stringify(id)} of ${where}: ${error.message}`);
        const message = `${error.name}: ${error.message}`;
        pending.push({ cursor: id, error: message, attempts: failedCalls });
      },
    });
    if (pending.length > 0) {
      // The batch ended with failures: move the cursor past them, with nothing processed.
      await this.#withRetries(0, () =>
        this.#commit(this.#unchanged(), 0, cursor, { failures: pending }),
      );
    }
  }

  /**
   * Runs `attempt` (for `size` entities), trying again under the retry policy while its
   * failure is one that is retried (see batch-failure.ts); throws the last error.
   */
  async #withRetries<T>(size: number, attempt: () => Promise<T>): Promise<T> {
    const { retry: policy, options, where, tally, stopper } = this.#context;
    for (let retry = 1; ; retry++) {
      try {
        return await attempt();
      } catch (caught) {
        const error = caught instanceof Error ? caught : new Error(String(caught));
        // Cut at the run's end (its deadline, the end of the grace): the run stops, whatever
        // failed in the attempt (a commit the stalled store could not finish in time).
        const cut: unknown = stopper.signal.reason;
        if (error instanceof RunStoppedError) throw error;
        if (cut instanceof RunStoppedError) {
          throw new RunStoppedError(cut.reason, cut.message, { cause: error });
        }
        if (retry > policy.attempts) {
          options.logger.debug(
            `Batch ${tally.batches + 1} of ${where} is not retried: its ` +
              `${policy.attempts + 1} attempts are spent.`,
          );
          throw error;
        }
        const why = whyNotRetried(policy, error);
        if (why !== null) {
          // Users expect a failed batch to be retried: one that is not says why, visibly.
          const permanent = policy.retryable === null && isSkippable(error);
          options.logger[permanent ? "warn" : "debug"](
            `Batch ${tally.batches + 1} of ${where} failed (attempt ${retry} of ` +
              `${policy.attempts + 1}): ${error.message}. Not retried: ${why}.`,
          );
          throw error;
        }
        const delay = retryDelay(policy, retry);
        // No point waiting for a retry that could not finish before the deadline. The error
        // goes with the stop: a run that keeps failing must not pass for one that ran late.
        const late = this.#context.planner?.wouldOverrun(options.now() + delay, size) ?? false;
        options.logger.warn(
          `Batch ${tally.batches + 1} of ${where} failed (attempt ${retry} of ` +
            `${policy.attempts + 1}): ${error.message}. ` +
            (late
              ? "No time is left to retry it before the deadline."
              : `Retrying in ${delay} ms.`),
        );
        if (late) {
          throw new RunStoppedError("deadline", `No time left to retry (${error.message}).`, {
            cause: error,
          });
        }
        await options.sleep(delay, stopper.waitSignal);
        const stop = this.stopBefore(size);
        if (stop) throw new RunStoppedError(stop, `Stopped before retrying (${stop}).`);
      }
    }
  }

  /** One call of processBatch in its own transaction scope; rolls back on any error. */
  async #tryBatch(batch: E[]): Promise<Prepared<S, Tx>> {
    const { processor: p, options, store, tally, stopper, breaker, where, clock } = this.#context;
    const { partition } = options;
    if (this.#context.quota) await this.#context.quota.beforeBatch(batch, tally);
    const shard = this.#context.shardOf();
    const scope = store.openBatch(this.#context.lease);
    const artifacts = this.#context.artifacts.forBatch();
    const batchNumber = tally.batches + 1;
    const timeoutMs = options.batchTimeoutMs ?? p.batchTimeoutMs;
    const timer =
      timeoutMs === undefined
        ? null
        : new BatchTimer(stopper.signal, timeoutMs, `Batch ${batchNumber} of ${where}`);
    const ctx = {
      partition,
      ...(shard ? { shard } : {}),
      state: tally.state,
      signal: timer?.signal ?? stopper.signal,
      log: options.logger,
      tx: scope.tx as Tx,
      artifacts,
      batchNumber,
      idempotencyKey: this.#idempotencyKey,
      quota: this.#quota,
    };
    const started = clock();
    stopper.inBatch(batchNumber);
    try {
      const done = breaker
        ? breaker.run(async () => p.processBatch(batch, ctx))
        : p.processBatch(batch, ctx);
      // At the deadline, the end of the shutdown grace or batchTimeoutMs the run stops
      // waiting, even for a processBatch that ignores ctx.signal; its late ctx.tx writes are
      // refused. One that returned without a promise is over already: nothing to wait for.
      if (isPromiseLike(done)) {
        const work = Promise.resolve(done);
        await stopper.race(timer ? timer.race(work) : work);
      }
      this.#throwIfAborted();
      const workMs = clock() - started;
      const stateText = encodeState(ctx.state, p, where);
      return {
        scope,
        artifacts,
        state: ctx.state,
        stateText,
        workMs,
      };
    } catch (error) {
      await scope.rollback();
      await artifacts.discard();
      // The in-memory state may hold half a batch; the committed one is the truth.
      this.#restoreState();
      throw stopper.signal.aborted ? stopper.signal.reason : error;
    } finally {
      timer?.clear();
      stopper.inBatch(null);
    }
  }

  /** After processBatch: a batch aborted or finished past the hard deadline is not committed. */
  #throwIfAborted(): void {
    const { stopper, planner, options, where } = this.#context;
    if (stopper.signal.aborted) throw stopper.signal.reason;
    if (planner && options.now() > planner.deadline) {
      throw new RunStoppedError("deadline", `${where} passed its deadline mid-batch.`);
    }
  }

  /** `ctx.state` back to the last committed state: a failed or redriven batch's changes go. */
  #restoreState(): void {
    const { tally, processor, lease } = this.#context;
    tally.state = decodeState(tally.committedState, codecOf(processor).name, processor, lease) as S;
  }

  /** Commits a prepared batch of `entities` entities ending at `cursor`; returns its time. */
  async #commit(
    prepared: Prepared<S, Tx>,
    entities: number,
    cursor: Cursor,
    plan: CommitPlan = {},
  ): Promise<number> {
    const { processor: p, options, store, tally, clock } = this.#context;
    const failures = plan.failures ?? [];
    const keep = plan.ledgerOnly === true;
    const completed = keep ? tally.completed : tally.completed + entities + failures.length;
    reachTotal(tally, completed, this.#context.where, options.logger);
    const started = clock();
    const startedPerf = performance.now();
    const now = options.now();
    const batchNumber = tally.batches + 1;
    const write: CheckpointWrite = keep
      ? {
          kind: "ledger",
          leaseTtlMs: p.leaseTtlMs,
          now,
          ...(failures.length > 0 ? { failures } : {}),
          ...(plan.resolved ? { resolvedFailures: plan.resolved } : {}),
          batchNumber,
        }
      : {
          kind: "batch",
          processorVersion: p.version,
          cursor,
          completed,
          total: tally.total,
          state: prepared.stateText,
          stateCodec: codecOf(p).name,
          fingerprint: this.#context.fingerprint(),
          ...(prepared.artifacts ? { artifacts: prepared.artifacts.staged() } : {}),
          leaseTtlMs: p.leaseTtlMs,
          now,
          ...(failures.length > 0 ? { failures } : {}),
          batchNumber,
          ...(plan.resolved ? { resolvedFailures: plan.resolved } : {}),
        };
    try {
      // A commit whose reply was lost is read back: only one known not to have landed fails
      // here (and may then be retried with its batch).
      await store.commit(prepared.scope, this.#context.lease, write);
    } catch (error) {
      // Nothing of the batch committed: its blobs are garbage and its state changes undone.
      await prepared.artifacts?.discard();
      this.#restoreState();
      throw error;
    }
    const commitMs = clock() - started;
    // History reports real time even when a simulation drives the run's clock.
    const realCommitMs = performance.now() - startedPerf;
    tally.checkpointMs += realCommitMs;
    if (keep) {
      // A redrive keeps the checkpoint: what it put and how it changed the state go.
      await prepared.artifacts?.discard();
      this.#restoreState();
    } else {
      // Most batches put nothing: they skip the call and its await.
      if (prepared.artifacts && write.kind === "batch" && write.artifacts?.length) {
        await this.#context.artifacts.committed(prepared.artifacts, options.logger);
      }
      tally.state = prepared.state;
      tally.committedState = prepared.stateText;
      tally.completed = completed;
      tally.skipped += failures.length;
      tally.cursor = cursor;
    }
    tally.processed += entities;
    tally.batches++;
    this.#context.onCommitted(entities, commitMs);
    if (writesDebug(options.logger)) {
      options.logger.debug(
        `Committed batch ${tally.batches} of ${this.#context.where}: ${entities} entities to cursor ` +
          `${JSON.stringify(cursor)}, ${completed}/${tally.total ?? "?"} complete, ` +
          `in ${realCommitMs.toFixed(1)} ms.`,
      );
    }
    return commitMs;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}
