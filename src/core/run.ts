import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type {
  BatchScope,
  FailureWrite,
  LeaseHandle,
  RunRecord,
  StoredCheckpoint,
} from "../stores/store.js";
import { BatchReader } from "./batch-reader.js";
import { FencedError, WaymarkError } from "./errors.js";
import { idempotencyKeyOf } from "./idempotency.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { adaptBreaker, type BreakerAdapter } from "./policies/breaker.js";
import { DeadlinePlanner, resolveDeadline } from "./policies/deadline.js";
import { isTransient, type RetryPolicy, resolveRetry, retryDelay } from "./policies/retry.js";
import { bisect } from "./policies/skip.js";
import { RunStoppedError, RunStopper } from "./policies/stop.js";
import { defineProcessor, type Processor } from "./processor.js";
import { type ResolvedRunOptions, type RunOptions, resolveRunOptions } from "./run-options.js";
import { parseState, serializeState } from "./state.js";
import type { Cursor, RecordedRunStatus, RunStatus, SuspendReason } from "./types.js";

/** What `run` resolves to. A run never rejects for a failed batch: look at `status`. */
export interface RunResult {
  readonly runId: string;
  readonly status: RunStatus;
  /** Why the run stopped early, when `status` is `suspended`. */
  readonly reason?: SuspendReason;
  /** Entities this run processed. */
  readonly processed: number;
  /** Entities this run skipped as failed (see the failure ledger). */
  readonly skipped: number;
  /** Entities already complete when this run resumed from a checkpoint; null on a fresh start. */
  readonly resumedFrom: number | null;
  /** Entities complete in the partition, across resumes. */
  readonly completed: number;
  readonly total: number | null;
  readonly batches: number;
  readonly durationMs: number;
  /** Time spent committing checkpoints. */
  readonly checkpointMs: number;
  /** The last committed cursor. */
  readonly cursor: Cursor | null;
  readonly error?: Error;
}

type Outcome = { status: "completed" } | { status: "suspended"; reason: SuspendReason };

/** A batch that ran without error and waits for its commit. */
interface Prepared<S> {
  readonly scope: BatchScope<unknown>;
  readonly state: S;
  readonly stateJson: string | null;
}

/**
 * Runs a processor on one partition: takes the lease, resumes after the last committed
 * cursor, processes and commits batch by batch, clears the checkpoint on success and
 * records the run in history. Invalid options reject; everything else resolves to a result.
 *
 * @example
 * const result = await run(summaries, { partition: "2024-01-15", store });
 * if (result.status === "failed") console.error(result.error);
 */
export async function run<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  options: RunOptions,
): Promise<RunResult> {
  const resolved = resolveRunOptions(options);
  return new Runner(defineProcessor(processor), resolved).execute();
}

class Runner<E, S, Tx> {
  readonly #p: Processor<E, S, Tx>;
  readonly #o: ResolvedRunOptions;
  readonly #where: string;
  readonly #runId = randomUUID();
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #startedAt: number;
  readonly #stopper: RunStopper;
  readonly #planner: DeadlinePlanner | null;
  readonly #breaker: BreakerAdapter | null;
  readonly #retry: RetryPolicy;
  readonly #startedPerf = performance.now();
  #lease: LeaseHandle | undefined;
  #attemptNumber = 1;
  #resumedFrom: number | null = null;
  #completed = 0;
  #total: number | null = null;
  #processed = 0;
  #skipped = 0;
  #batches = 0;
  #checkpointMs = 0;
  #cursor: Cursor | null = null;
  #state: S = undefined as S;
  #committedState: string | null = null;
  #lastProgressLog = 0;

  constructor(processor: Processor<E, S, Tx>, options: ResolvedRunOptions) {
    this.#p = processor;
    this.#o = options;
    this.#where = `${processor.name}/${options.partition}`;
    this.#startedAt = options.now();
    const deadline = resolveDeadline(options, this.#startedAt);
    this.#planner =
      deadline === null ? null : new DeadlinePlanner(deadline, options.deadlineMarginMs);
    this.#stopper = new RunStopper({ ...options, deadline }, this.#where);
    const breaker = options.breaker ?? processor.breaker;
    this.#breaker = breaker ? adaptBreaker(breaker) : null;
    this.#retry = resolveRetry(processor.retry);
  }

  async execute(): Promise<RunResult> {
    const { store, logger } = this.#o;
    let keeper: LeaseKeeper | undefined;
    let reader: BatchReader<E> | undefined;
    try {
      if (this.#p.shouldRun) {
        const lastCompletedAt = await store.lastCompletedAt({
          processor: this.#p.name,
          partition: this.#o.partition,
        });
        if (!(await this.#p.shouldRun({ partition: this.#o.partition, lastCompletedAt }))) {
          logger.info(`Skipped ${this.#where}: shouldRun returned false.`);
          return await this.#finish("skipped");
        }
      }
      const acquired = await store.acquire({
        processor: this.#p.name,
        partition: this.#o.partition,
        owner: this.#owner,
        runId: this.#runId,
        leaseTtlMs: this.#p.leaseTtlMs,
        now: this.#o.now(),
      });
      if (!acquired.acquired) {
        const until = new Date(acquired.holder.expiresAt).toISOString();
        logger.info(`${this.#where} is busy: leased by ${acquired.holder.owner} until ${until}.`);
        return await this.#finish("busy");
      }
      this.#lease = acquired.lease;
      this.#attemptNumber = acquired.checkpoint.attempt;
      await store.recordRun(this.#record("running"));
      keeper = new LeaseKeeper(store, acquired.lease, this.#p.leaseTtlMs, this.#o.now, (error) => {
        if (error instanceof FencedError) this.#stopper.abort(error);
        else logger.warn(`Lease renewal for ${this.#where} failed: ${error.message}`);
      });
      reader = await this.#open(acquired.checkpoint);
      const outcome = await this.#loop(reader);
      keeper.stop();
      if (outcome.status === "completed") {
        await store.complete(acquired.lease, this.#o.now());
        logger.info(`Completed ${this.#where}: ${this.#progressText()} in ${this.#elapsed()} ms.`);
        return await this.#finish("completed");
      }
      await store.release(acquired.lease, this.#o.now());
      logger.info(`Suspended ${this.#where} at ${this.#progressText()} (${outcome.reason}).`);
      return await this.#finish("suspended", outcome.reason);
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught));
      const saved =
        this.#completed > 0 ? "Checkpoint saved - can resume." : "No checkpoint to resume from.";
      logger.error(`Failed at ${this.#progressText()}. ${saved} ${error.message}`);
      if (this.#lease) await store.release(this.#lease, this.#o.now()).catch(() => {});
      return await this.#finish("failed", undefined, error);
    } finally {
      this.#stopper.dispose();
      keeper?.stop();
      await reader?.close().catch(() => {});
    }
  }

  /** Decides fresh start or resume, prepares state and total, and opens the entity source. */
  async #open(checkpoint: StoredCheckpoint): Promise<BatchReader<E>> {
    const p = this.#p;
    const { partition, logger } = this.#o;
    let after: Cursor | null = null;
    if (checkpoint.cursor !== null && this.#resumable(checkpoint)) {
      after = checkpoint.cursor;
      this.#resumedFrom = this.#completed = checkpoint.completed;
      this.#total = checkpoint.total;
      this.#cursor = checkpoint.cursor;
      this.#committedState = checkpoint.state;
      this.#state = parseState(checkpoint.state, p.name, partition) as S;
      logger.info(
        `Found checkpoint: ${this.#progressText()} complete (last: ${JSON.stringify(after)})`,
      );
    } else {
      this.#state = p.initialState?.({ partition }) as S;
      this.#committedState = serializeState(this.#state, p.maxStateBytes, this.#where);
    }
    if (p.count) this.#total = await p.count({ partition });
    const source = await p.entities({ partition, after, signal: this.#stopper.signal });
    const reader = new BatchReader(source, p.id, after, this.#where);
    const remaining = reader.remainingInArray();
    if (remaining !== null && !p.count) this.#total = this.#completed + remaining;
    return reader;
  }

  /** Whether a committed checkpoint may be resumed: not expired, same version. */
  #resumable(checkpoint: StoredCheckpoint): boolean {
    const p = this.#p;
    const { logger } = this.#o;
    const age = this.#o.now() - checkpoint.updatedAt;
    if (age > p.expiryMs) {
      logger.warn(
        `Checkpoint of ${this.#where} at ${checkpoint.completed} entities is ${age} ms old, ` +
          `past expiryMs (${p.expiryMs}); starting over.`,
      );
      return false;
    }
    if (checkpoint.processorVersion !== p.version) {
      const message =
        `Checkpoint of ${this.#where} was written by version ${checkpoint.processorVersion}, ` +
        `this processor is version ${p.version}.`;
      if (p.onVersionMismatch === "fail") {
        throw new WaymarkError(
          "VERSION_MISMATCH",
          `${message} Reset it with \`waymark reset ${p.name} ${this.#o.partition}\`, or set ` +
            `onVersionMismatch: "restart" to start over automatically.`,
        );
      }
      logger.warn(`${message} Starting over (onVersionMismatch: "restart").`);
      return false;
    }
    return true;
  }

  async #loop(reader: BatchReader<E>): Promise<Outcome> {
    const batchSize = this.#p.batchSize;
    try {
      for (;;) {
        const stop = this.#stopBefore(batchSize);
        if (stop) return { status: "suspended", reason: stop };
        const batch = await reader.next(batchSize);
        if (batch.length === 0) return { status: "completed" };
        await this.#runBatch(batch, reader.lastCursor as Cursor);
      }
    } catch (error) {
      if (error instanceof RunStoppedError) return { status: "suspended", reason: error.reason };
      throw error;
    }
  }

  /** Why the next batch (of `size`) must not start, or null. A lost lease throws. */
  #stopBefore(size: number): SuspendReason | null {
    this.#throwIfFenced();
    if (this.#stopper.requested) return this.#stopper.requested;
    if (this.#breaker?.isOpen()) return "circuit-open";
    if (this.#planner?.wouldOverrun(this.#o.now(), size)) return "deadline";
    return null;
  }

  async #runBatch(batch: E[], cursor: Cursor): Promise<void> {
    const started = this.#o.now();
    let prepared: Prepared<S>;
    try {
      prepared = await this.#attemptWithRetries(batch);
    } catch (error) {
      if (!this.#p.skip || !skippable(error)) throw error;
      await this.#isolateFailures(batch, cursor, error as Error);
      return;
    }
    await this.#commit(prepared, batch.length, cursor);
    this.#planner?.record(batch.length, this.#o.now() - started);
  }

  /** Bisects a batch that failed every attempt, committing what works, skipping the rest. */
  async #isolateFailures(batch: E[], cursor: Cursor, batchError: Error): Promise<void> {
    const skip = this.#p.skip as NonNullable<Processor<E, S, Tx>["skip"]>;
    const pending: FailureWrite[] = [];
    this.#o.logger.warn(
      `Batch ${this.#batches + 1} of ${this.#where} failed every attempt ` +
        `(${batchError.message}); searching it for the failing entities.`,
    );
    await bisect(batch, batchError, this.#retry.attempts + 1, {
      tryPart: async (part) => {
        let prepared: Prepared<S>;
        try {
          prepared = skip.retryable
            ? await this.#attemptWithRetries(part)
            : await this.#tryBatch(part);
        } catch (error) {
          if (!skippable(error)) throw error;
          return error as Error;
        }
        const last = this.#p.id(part[part.length - 1] as E);
        await this.#commit(prepared, part.length, last, pending.splice(0));
        return null;
      },
      failed: (entity, error, failedCalls) => {
        const id = this.#p.id(entity);
        this.#skipped++;
        if (this.#skipped > skip.limit) {
          throw new WaymarkError(
            "SKIP_LIMIT",
            `${this.#where}: entity ${JSON.stringify(id)} failed (${error.message}), the ` +
              `${this.#skipped}th this run, past skip.limit (${skip.limit}). Fix the cause ` +
              "or raise skip.limit; entities skipped so far are in `waymark failures`.",
          );
        }
        this.#o.logger.warn(
          `Skipped entity ${JSON.stringify(id)} of ${this.#where}: ${error.message}`,
        );
        pending.push({
          cursor: id,
          error: `${error.name}: ${error.message}`,
          attempts: failedCalls,
        });
      },
    });
    if (pending.length > 0) {
      // The batch ended with failures: move the cursor past them, with nothing processed.
      const scope = this.#o.store.openBatch(this.#lease as LeaseHandle) as BatchScope<unknown>;
      const unchanged = { scope, state: this.#state, stateJson: this.#committedState };
      await this.#commit(unchanged, 0, cursor, pending);
    }
  }

  /** Runs the batch, retrying transient errors by the retry policy; throws the last error. */
  async #attemptWithRetries(batch: E[]): Promise<Prepared<S>> {
    const policy = this.#retry;
    const { logger, sleep } = this.#o;
    for (let retry = 1; ; retry++) {
      try {
        return await this.#tryBatch(batch);
      } catch (caught) {
        const error = caught instanceof Error ? caught : new Error(String(caught));
        if (retry > policy.attempts || !isTransient(policy, error)) throw error;
        const delay = retryDelay(policy, retry);
        logger.warn(
          `Batch ${this.#batches + 1} of ${this.#where} failed (attempt ${retry} of ` +
            `${policy.attempts + 1}): ${error.message}. Retrying in ${delay} ms.`,
        );
        await sleep(delay, this.#stopper.waitSignal);
        const stop = this.#stopBefore(batch.length);
        if (stop) throw new RunStoppedError(stop, `Stopped before retrying (${stop}).`);
      }
    }
  }

  /** One call of processBatch in its own transaction scope; rolls back on any error. */
  async #tryBatch(batch: E[]): Promise<Prepared<S>> {
    const p = this.#p;
    const { store, partition, logger } = this.#o;
    const scope = store.openBatch(this.#lease as LeaseHandle);
    const ctx = {
      partition,
      state: this.#state,
      signal: this.#stopper.signal,
      log: logger,
      tx: scope.tx as Tx,
      batchNumber: this.#batches + 1,
      idempotencyKey: (entity: unknown) => this.#idempotencyKey(entity as E),
    };
    try {
      const work = async () => p.processBatch(batch, ctx);
      await (this.#breaker ? this.#breaker.run(work) : work());
      this.#throwIfAborted();
      const stateJson = serializeState(ctx.state, p.maxStateBytes, this.#where);
      return { scope: scope as BatchScope<unknown>, state: ctx.state, stateJson };
    } catch (error) {
      await scope.rollback();
      // The in-memory state may hold half a batch; the committed one is the truth.
      this.#state = parseState(this.#committedState, p.name, partition) as S;
      throw this.#stopper.signal.aborted ? this.#stopper.signal.reason : error;
    }
  }

  /** Commits a prepared batch of `entities` entities ending at `cursor`. */
  async #commit(
    prepared: Prepared<S>,
    entities: number,
    cursor: Cursor,
    failures: FailureWrite[] = [],
  ): Promise<void> {
    const p = this.#p;
    const { scope, stateJson } = prepared;
    const completed = this.#completed + entities + failures.length;
    const started = performance.now();
    await scope.commit({
      processorVersion: p.version,
      cursor,
      completed,
      total: this.#total,
      state: stateJson,
      fingerprint: null,
      leaseTtlMs: p.leaseTtlMs,
      now: this.#o.now(),
      ...(failures.length > 0 ? { failures } : {}),
    });
    this.#checkpointMs += performance.now() - started;
    this.#state = prepared.state;
    this.#committedState = stateJson;
    this.#completed = completed;
    this.#processed += entities;
    this.#batches++;
    this.#cursor = cursor;
    this.#reportProgress();
  }

  #reportProgress(): void {
    const { logger, progressEveryMs, onProgress } = this.#o;
    const elapsed = performance.now();
    if (elapsed - this.#lastProgressLog >= progressEveryMs) {
      this.#lastProgressLog = elapsed;
      logger.info(`Progress: ${this.#progressText()}`);
    }
    onProgress?.({
      processor: this.#p.name,
      partition: this.#o.partition,
      completed: this.#completed,
      total: this.#total,
      processed: this.#processed,
      batches: this.#batches,
      resumedFrom: this.#resumedFrom,
      cursor: this.#cursor,
      elapsedMs: this.#elapsed(),
    });
  }

  #throwIfFenced(): void {
    const reason: unknown = this.#stopper.signal.reason;
    if (reason instanceof FencedError) throw reason;
  }

  /** After processBatch: a batch aborted or finished past the hard deadline is not committed. */
  #throwIfAborted(): void {
    const signal = this.#stopper.signal;
    if (signal.aborted) throw signal.reason;
    const deadline = this.#planner?.deadline;
    if (deadline !== undefined && this.#o.now() > deadline) {
      throw new RunStoppedError("deadline", `${this.#where} passed its deadline mid-batch.`);
    }
  }

  #idempotencyKey(entity: E): string {
    return idempotencyKeyOf(this.#p.name, this.#p.version, this.#o.partition, this.#p.id(entity));
  }

  #progressText(): string {
    const total = this.#total;
    if (total === null || total === 0) return `${this.#completed}/${total ?? "?"}`;
    return `${this.#completed}/${total} (${((this.#completed / total) * 100).toFixed(1)}%)`;
  }

  #elapsed(): number {
    return Math.round(performance.now() - this.#startedPerf);
  }

  #record(status: RecordedRunStatus, reason?: SuspendReason, error?: Error): RunRecord {
    return {
      runId: this.#runId,
      processor: this.#p.name,
      partition: this.#o.partition,
      status,
      startedAt: this.#startedAt,
      finishedAt: status === "running" ? null : this.#o.now(),
      resumedFrom: this.#resumedFrom,
      processed: this.#processed,
      total: this.#total,
      batches: this.#batches,
      checkpointMs: this.#checkpointMs,
      attempt: this.#attemptNumber,
      reason: reason ?? null,
      error: error ? `${error.name}: ${error.message}` : null,
    };
  }

  async #finish(status: RunStatus, reason?: SuspendReason, error?: Error): Promise<RunResult> {
    await this.#o.store.recordRun(this.#record(status, reason, error)).catch((e: Error) => {
      this.#o.logger.warn(`Could not record run ${this.#runId} in history: ${e.message}`);
    });
    return {
      runId: this.#runId,
      status,
      ...(reason ? { reason } : {}),
      processed: this.#processed,
      skipped: this.#skipped,
      resumedFrom: this.#resumedFrom,
      completed: this.#completed,
      total: this.#total,
      batches: this.#batches,
      durationMs: this.#elapsed(),
      checkpointMs: this.#checkpointMs,
      cursor: this.#cursor,
      ...(error ? { error } : {}),
    };
  }
}

/** Whether a failing entity may be skipped: waymark's own errors (lease, stop, state) never are. */
function skippable(error: unknown): boolean {
  return !(error instanceof WaymarkError);
}
