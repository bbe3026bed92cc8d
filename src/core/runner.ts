import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type { RunArtifacts } from "./artifacts.js";
import { type BatchExecutor, createTally } from "./batch-executor.js";
import { BatchReader } from "./batch-reader.js";
import { checkCount, reachTotal } from "./count.js";
import { describeValue, InvalidOptionError, OrderViolationError, StoreError } from "./errors.js";
import { HeldLease, holdLease } from "./lease-hold.js";
import type { RunMetrics } from "./metrics-hooks.js";
import { OpenLedger } from "./open-ledger.js";
import { batchSizer } from "./policies/adaptive-batch.js";
import type { DeadlinePlanner } from "./policies/deadline.js";
import { RunStoppedError, type RunStopper, untilAborted } from "./policies/stop.js";
import type { Processor } from "./processor.js";
import { isResumable, readInput, resumePoint } from "./resume.js";
import { checkOrderAtBound } from "./run-bounds.js";
import { failureNote, orderRedoNote, skippedNote } from "./run-lines.js";
import type { ResolvedRunOptions } from "./run-options.js";
import type { RunResult } from "./run-result.js";
import { emitMetric, executorOf, type RunSetup, setUpRun } from "./run-setup.js";
import { type SplitHolder, type SplitMade, SplitHolder as Splits } from "./split-holder.js";
import { encodeState } from "./state.js";
import type { GuardedStore } from "./store/guarded-store.js";
import type { RunRecord, StoredCheckpoint, UnitRange } from "./store/records.js";
import type { AcquireRequest, LeaseHandle } from "./store/run-store.js";
import type {
  CheckpointKey,
  Cursor,
  RecordedRunStatus,
  RunStatus,
  SuspendReason,
} from "./types.js";
import { driftOf, type RunUnit, shardArgOf } from "./unit.js";

/** Whether a store call failed for want of time at the run's end (see GuardedStore). */
function timedOut(error: unknown): boolean {
  return error instanceof StoreError && error.code === "STORE_TIMEOUT";
}

/** A run's result as a claim's outcome. */
function ran<S>(result: RunResult<S>): UnitOutcome<S> {
  return { kind: "ran", result };
}

type Outcome =
  | { status: "completed" }
  | { status: "suspended"; reason: SuspendReason; cause?: Error | undefined };

/** How a backfill or a queue worker claims a unit: what a lone `run` never needs. */
export interface UnitClaim {
  /**
   * The start of the backfill the claim belongs to (by the store's clock): a unit completed
   * since is done, decided in the same transaction as its lease, and nothing runs.
   */
  readonly completedSince?: number;
  /** Watch for split requests, this often, and answer them at batch boundaries. */
  readonly splitPollMs?: number;
  /** Called after this run split its range (a queue sends a job for the new shard). */
  readonly onSplit?: (split: SplitMade) => void | Promise<void>;
}

/** What claiming one unit came to: a run, or nothing to do. */
export type UnitOutcome<S = unknown> =
  | { readonly kind: "ran"; readonly result: RunResult<S> }
  /** The unit completed since the backfill began, by run `runId`: not run again. */
  | { readonly kind: "completed"; readonly at: number; readonly runId: string | null }
  /** A split-off shard that no longer exists (it completed, or its partition was reset). */
  | { readonly kind: "absent" }
  /** Another runner holds it: the backfill's work in progress, not recorded as a run. */
  | { readonly kind: "held"; readonly owner: string; readonly expiresAt: number };

/**
 * The runner of one unit (a partition or a shard): what `run`, a backfill and the pg-boss
 * worker all execute, so that every entry point shares one batch path.
 */
export class Runner<E, S, Tx> {
  readonly #setup: RunSetup<E, S, Tx>;
  readonly #processor: Processor<E, S, Tx>;
  readonly #unit: RunUnit;
  readonly #claim: UnitClaim;
  /** The range this run covers: the stored one once the lease is taken; a split moves `to`. */
  #range: UnitRange;
  #splits: SplitHolder | undefined;
  readonly #options: ResolvedRunOptions;
  readonly #store: GuardedStore<Tx>;
  readonly #key: CheckpointKey;
  readonly #where: string;
  readonly #runId: string;
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #startedAt: number;
  readonly #stopper: RunStopper;
  readonly #planner: DeadlinePlanner | null;
  readonly #startedPerf = performance.now();
  #held: HeldLease | undefined;
  #attemptNumber = 1;
  #resumedFrom: number | null = null;
  readonly #tally = createTally<S>({
    completed: 0,
    total: null,
    cursor: null,
    state: undefined as S,
  });
  #fingerprint: string | null = null;
  readonly #artifacts: RunArtifacts;
  #lastProgressLog = 0;

  constructor(
    processor: Processor<E, S, Tx>,
    unit: RunUnit,
    options: ResolvedRunOptions,
    claim: UnitClaim,
  ) {
    this.#setup = setUpRun(processor, unit, options, randomUUID());
    this.#processor = processor;
    this.#unit = unit;
    this.#claim = claim;
    this.#range = unit.range;
    this.#options = this.#setup.options;
    this.#store = this.#setup.store;
    this.#runId = this.#setup.runId;
    this.#key = this.#setup.key;
    this.#where = this.#setup.where;
    this.#startedAt = this.#setup.startedAt;
    this.#planner = this.#setup.planner;
    this.#stopper = this.#setup.stopper;
    this.#artifacts = this.#setup.artifacts;
  }

  async execute(): Promise<UnitOutcome<S>> {
    const logger = this.#options.logger;
    let reader: BatchReader<E> | undefined;
    try {
      if (this.#processor.shouldRun && !(await this.#shouldRun())) {
        logger.info(`Skipped ${this.#where}: shouldRun returned false.`);
        return ran(await this.#finish("skipped"));
      }
      const taken = await holdLease(this.#store, this.#request(), {
        now: this.#options.now,
        logger,
        onFenced: (error) => this.#stopper.abort(error),
      });
      if (!(taken instanceof HeldLease)) {
        if ("completed" in taken) {
          const drift = driftOf(this.#processor.name, this.#unit, taken.completed, "completed");
          if (drift) throw drift;
          const { at, runId } = taken.completed;
          return { kind: "completed", at, runId };
        }
        if ("busy" in taken && this.#claim.completedSince !== undefined) {
          return { kind: "held", ...taken.busy };
        }
        if ("busy" in taken) {
          const until = new Date(taken.busy.expiresAt).toISOString();
          logger.info(`${this.#where} is busy: leased by ${taken.busy.owner} until ${until}.`);
          return ran(await this.#finish("busy"));
        }
        if (this.#claim.completedSince !== undefined) return { kind: "absent" };
        logger.info(`Skipped ${this.#where}: no such shard (a split-off shard that completed).`);
        return ran(await this.#finish("skipped"));
      }
      this.#held = taken;
      this.#attemptNumber = taken.checkpoint.attempt;
      this.#applyRange(taken.checkpoint);
      if (this.#claim.splitPollMs !== undefined) {
        this.#splits = new Splits(this.#store, taken, this.#claim.splitPollMs);
      }
      // A store with its own clock (PostgreSQL's server) measures the checkpoint's age too.
      const now = taken.storeNow ?? this.#options.now();
      reader = await untilAborted(this.#open(taken.checkpoint, now), this.#stopper.signal);
      // Recorded once resume point and total are known, so reports can rate the live run.
      await this.#store.recordRun(this.#record("running"));
      this.#emit("runStarted", (m) =>
        m.runStarted?.({
          ...this.#event(),
          resumedFrom: this.#resumedFrom,
          total: this.#tally.total,
          attempt: this.#attemptNumber,
        }),
      );
      const ledger = OpenLedger.of(taken.ledger ?? (await this.#openLedger()));
      const outcome = await this.#loop(reader, this.#executor(taken.lease, ledger));
      taken.stop();
      this.#splits?.stop();
      if (outcome.status === "completed") {
        if (reader.pastBound !== undefined) {
          await checkOrderAtBound(this.#processor, {
            partition: this.#options.partition,
            shard: this.#unit.shard,
            bound: this.#range.to as Cursor,
            pastBound: reader.pastBound,
            signal: this.#stopper.signal,
            where: this.#where,
          });
        }
        // History's `completed` row is written with the completion, in one transaction.
        const record = this.#record("completed");
        await this.#store.complete(taken.lease, this.#options.now(), record);
        logger.info(
          `Completed ${this.#where}: ${this.#progressText()} in ${this.#elapsed()} ms` +
            `${skippedNote(this.#tally.skipped)}.`,
        );
        return ran(await this.#finish("completed", undefined, undefined, record));
      }
      if (outcome.cause && this.#tally.batches === 0) {
        // A batch failed with no time left to retry, and nothing was committed: a run started
        // again would do the same, so this is a failure (exit 1), not a suspension to repeat.
        throw outcome.cause;
      }
      return ran(await this.#suspend(taken, outcome.reason, outcome.cause));
    } catch (caught) {
      // Stopped outside the batch loop (while opening the entities, say): still a suspension.
      if (caught instanceof RunStoppedError && this.#held) {
        return ran(await this.#suspend(this.#held, caught.reason));
      }
      // Its end came while the store stalled its claim: nothing was done, nothing is held.
      const stop: unknown = this.#stopper.signal.reason;
      if (!this.#held && stop instanceof RunStoppedError && timedOut(caught)) {
        logger.info(`Suspended ${this.#where} before its lease was taken (${stop.reason}).`);
        return ran(await this.#finish("suspended", stop.reason, caught as Error));
      }
      const error = this.#withRedo(caught instanceof Error ? caught : new Error(String(caught)));
      const note = failureNote(error, this.#tally.completed);
      logger.error(`Failed at ${this.#countText()}. ${note} ${error.message}`);
      await this.#held?.release();
      return ran(await this.#finish("failed", undefined, error));
    } finally {
      this.#stopper.dispose();
      this.#held?.stop();
      this.#splits?.stop();
      await this.#setup.quota?.release();
      const closing = reader?.close().catch(() => {});
      // An abandoned entity source may be stuck in a read that closing would wait for.
      if (!this.#stopper.signal.aborted) await closing;
    }
  }

  /** The claim: this runner, its unit's range and split digest, and the backfill's start. */
  #request(): AcquireRequest {
    const unit = this.#unit;
    const since = this.#claim.completedSince;
    return {
      ...this.#key,
      owner: this.#owner,
      runId: this.#runId,
      leaseTtlMs: this.#processor.leaseTtlMs,
      now: this.#options.now(),
      ...(since === undefined ? {} : { completedSince: since }),
      // A split-off shard exists only as its row: a claim never makes one up.
      ...(unit.splitOff
        ? { mustExist: true }
        : { unit: { range: unit.range, layout: unit.layout } }),
    };
  }

  /**
   * Takes the range stored with the checkpoint (a split may have narrowed it). A checkpoint
   * made under another static split is drift: resuming it under the new one would skip or
   * repeat the ids between the old and the new bounds.
   */
  #applyRange(checkpoint: StoredCheckpoint): void {
    const unit = this.#unit;
    const drift = driftOf(this.#processor.name, unit, checkpoint, "begun");
    if (drift) throw drift;
    this.#range = checkpoint.range ?? unit.range;
    this.#setup.shard = shardArgOf(unit, this.#range) ?? null;
  }

  /**
   * An ORDER_VIOLATION that also says how to go on once the source is fixed (the summary,
   * `--json` and history carry it); any other error as it is.
   */
  #withRedo(error: Error): Error {
    if (!(error instanceof OrderViolationError)) return error;
    const range = this.#range;
    const ranged = this.#unit.shard !== "" || range.from !== null || range.to !== null;
    const note = orderRedoNote(
      this.#processor.name,
      { partition: this.#unit.partition, ranged },
      this.#tally.completed,
    );
    return note ? new OrderViolationError(`${error.message} ${note}`) : error;
  }

  /** Asks the processor's `shouldRun` whether this partition needs a run at all. */
  async #shouldRun(): Promise<boolean> {
    const shouldRun = this.#processor.shouldRun as NonNullable<Processor["shouldRun"]>;
    const lastCompletedAt = await this.#store.lastCompletedAt(this.#key);
    const answer = await untilAborted(
      Promise.resolve(shouldRun({ partition: this.#options.partition, lastCompletedAt })),
      this.#stopper.signal,
    );
    if (typeof answer !== "boolean") {
      // "no" is truthy: guessing either way would run or skip a partition by accident.
      throw new InvalidOptionError(
        "shouldRun",
        `shouldRun() of ${this.#where} returned ${describeValue(answer)}; return true ` +
          "to run the partition or false to skip it.",
      );
    }
    return answer;
  }

  /** `cause`: a batch error a retry could not follow, kept in the result and history. */
  async #suspend(held: HeldLease, reason: SuspendReason, cause?: Error): Promise<RunResult<S>> {
    await held.release();
    const idle = this.#tally.batches === 0;
    // A run that keeps suspending before its first batch would otherwise loop unnoticed.
    const note = cause
      ? `; its next batch failed (${cause.message}) with no time left to retry, the next run retries it`
      : idle
        ? " without processing anything; a run started again now would likely do the same"
        : "";
    this.#options.logger.info(
      `Suspended ${this.#where} at ${this.#progressText()} (${reason})${note}.`,
    );
    return await this.#finish("suspended", reason, cause);
  }

  /** The key's open ledger entries, from a store that does not read them with the lease. */
  async #openLedger(): Promise<Cursor[]> {
    return (await this.#store.listFailures(this.#key)).map((failure) => failure.cursor);
  }

  #executor(lease: LeaseHandle, ledger: OpenLedger | null): BatchExecutor<E, S, Tx> {
    return executorOf(this.#setup, lease, this.#tally, {
      ledger,
      fingerprint: () => this.#fingerprint,
      onCommitted: (entities, commitMs) => {
        // Without metrics sinks, not even the event is built: this runs once per batch.
        if (this.#options.metrics?.length) this.#emitCommitted(entities, commitMs);
        this.#reportProgress();
      },
    });
  }

  #emitCommitted(entities: number, commitMs: number): void {
    this.#emit("batchCommitted", (m) =>
      m.batchCommitted?.({
        ...this.#event(),
        entities,
        commitMs,
        completed: this.#tally.completed,
      }),
    );
  }

  /** Decides fresh start or resume, prepares state and total, and opens the entity source. */
  async #open(checkpoint: StoredCheckpoint, now: number): Promise<BatchReader<E>> {
    const p = this.#processor;
    const { partition, logger } = this.#options;
    const shard = this.#setup.shard ?? undefined;
    const unitArgs = { partition, ...(shard ? { shard } : {}) };
    // The fingerprint names the input of the unit as defined, not of the range a split left.
    const input = await readInput(p as Processor, unitArgs, {
      partition,
      ...(this.#unit.definition ? { shard: this.#unit.definition } : {}),
    });
    this.#fingerprint = input.fingerprint;
    let after: Cursor | null = null;
    const point =
      checkpoint.cursor !== null && isResumable(checkpoint, p as Processor, now, logger)
        ? await resumePoint(
            p as Processor,
            { ...checkpoint, cursor: checkpoint.cursor },
            input,
            this.#where,
            logger,
          )
        : null;
    if (point) {
      after = point.cursor;
      this.#resumedFrom = this.#tally.completed = point.completed;
      this.#tally.total = checkpoint.total;
      this.#tally.cursor = point.cursor;
      // Re-encoded with this processor's codec, which may differ from the one that wrote it.
      this.#tally.state = point.state as S;
      this.#tally.committedState = encodeState(point.state, p, this.#where);
      await this.#artifacts.openForResume();
      logger.info(
        `Found checkpoint: ${this.#countText()} complete (last: ${JSON.stringify(after)})`,
      );
    } else {
      this.#tally.state = p.initialState?.(unitArgs) as S;
      // The first save: a state the codec cannot give back fails the run before any batch.
      this.#tally.committedState = encodeState(this.#tally.state, p, this.#where);
      await this.#artifacts.openFresh();
    }
    if (p.count) this.#tally.total = input.total;
    reachTotal(this.#tally, this.#tally.completed, this.#where, logger);
    // A range's start is where a fresh run of it begins.
    const start = after ?? this.#range.from;
    const source = await p.entities({ ...unitArgs, after: start, signal: this.#stopper.signal });
    const reader = new BatchReader(source, p.id, start, this.#where);
    reader.setUpperBound(this.#range.to);
    const remaining = reader.remainingInArray();
    if (remaining !== null && !p.count) this.#tally.total = this.#tally.completed + remaining;
    return reader;
  }

  async #loop(reader: BatchReader<E>, executor: BatchExecutor<E, S, Tx>): Promise<Outcome> {
    const sizer = batchSizer(this.#processor.batchSize);
    try {
      for (;;) {
        const size = sizer.next();
        const stop = executor.stopBefore(size);
        if (stop) return { status: "suspended", reason: stop };
        if (this.#splits?.requested) await this.#split(reader, size);
        const batch = this.#take(reader, size) ?? (await this.#stopper.race(reader.next(size)));
        if (batch.length === 0) return { status: "completed" };
        const timing = await executor.run(batch, reader.lastCursor as Cursor);
        if (timing) {
          sizer.record(batch.length, timing.workMs, timing.commitMs);
          this.#planner?.record(batch.length, timing.workMs + timing.commitMs);
        }
      }
    } catch (error) {
      if (error instanceof RunStoppedError) {
        return { status: "suspended", reason: error.reason, cause: error.cause as Error };
      }
      throw error;
    }
  }

  /**
   * Answers a split request at this batch boundary: everything up to the last committed
   * cursor is claimed, the rest may go. After a split the reader stops at the new bound and
   * the total is counted again for the range left. An error here fails the run rather than
   * read on: if the split landed unseen, only the stored range is right.
   */
  async #split(reader: BatchReader<E>, size: number): Promise<void> {
    const made = await (this.#splits as SplitHolder).answer({
      processor: this.#processor as Processor<unknown, unknown, unknown>,
      held: this.#held as HeldLease,
      partition: this.#options.partition,
      where: this.#where,
      range: this.#range,
      after: reader.lastCursor ?? this.#range.from,
      minimum: size * 3,
      signal: this.#stopper.signal,
      now: this.#options.now(),
      logger: this.#options.logger,
    });
    if (!made) return;
    this.#range = { from: this.#range.from, to: made.at };
    reader.setUpperBound(made.at);
    this.#setup.shard = shardArgOf(this.#unit, this.#range) ?? null;
    // What is left of the range is counted again; without count() the total is unknown.
    const count = this.#processor.count;
    const from = reader.lastCursor ?? this.#range.from;
    const left = count
      ? checkCount(
          await count({
            partition: this.#options.partition,
            shard: { id: this.#unit.shard, ...(from === null ? {} : { from }), to: made.at },
          } as { partition: string }),
          this.#where,
        )
      : null;
    this.#tally.total = left === null ? null : this.#tally.completed + left;
    try {
      await this.#claim.onSplit?.(made);
    } catch (error) {
      this.#options.logger.warn(
        `After splitting ${this.#where}: ${(error as Error).message}. Shard ${made.shard} is ` +
          "stored; a runner of the backfill will claim it.",
      );
    }
  }

  /**
   * The next batch of an array or sync source, or null when it must be awaited. Taken at once
   * it needs no race with the signal; a signal already aborted stops the run all the same.
   */
  #take(reader: BatchReader<E>, size: number): E[] | null {
    const signal = this.#stopper.signal;
    if (signal.aborted) throw signal.reason;
    return reader.nextNow(size);
  }

  #reportProgress(): void {
    const { logger, progressEveryMs, onProgress } = this.#options;
    const elapsed = performance.now();
    if (elapsed - this.#lastProgressLog >= progressEveryMs) {
      this.#lastProgressLog = elapsed;
      logger.info(`Progress: ${this.#progressText()}`);
    }
    onProgress?.({
      processor: this.#processor.name,
      partition: this.#options.partition,
      shard: this.#unit.shard || undefined,
      completed: this.#tally.completed,
      total: this.#tally.total,
      processed: this.#tally.processed,
      batches: this.#tally.batches,
      resumedFrom: this.#resumedFrom,
      cursor: this.#tally.cursor,
      elapsedMs: this.#elapsed(),
    });
  }

  #event() {
    return {
      runId: this.#runId,
      processor: this.#processor.name,
      partition: this.#options.partition,
      shard: this.#unit.shard || undefined,
    };
  }

  /** Calls a metrics hook on every configured sink; a failing hook never fails the run. */
  #emit(hook: string, call: (metrics: RunMetrics) => void): void {
    emitMetric(this.#options, hook, call);
  }

  /** `300/450`, or `300/?` while the total is unknown. */
  #countText(): string {
    return `${this.#tally.completed}/${this.#tally.total ?? "?"}`;
  }

  /** `350/450 (77.8%)`. */
  #progressText(): string {
    const total = this.#tally.total;
    if (total === null || total === 0) return this.#countText();
    return `${this.#countText()} (${((this.#tally.completed / total) * 100).toFixed(1)}%)`;
  }

  #elapsed(): number {
    return Math.round(performance.now() - this.#startedPerf);
  }

  #record(status: RecordedRunStatus, reason?: SuspendReason, error?: Error): RunRecord {
    return {
      runId: this.#runId,
      ...this.#key,
      status,
      startedAt: this.#startedAt,
      finishedAt: status === "running" ? null : this.#options.now(),
      resumedFrom: this.#resumedFrom,
      processed: this.#tally.processed,
      skipped: this.#tally.skipped,
      total: this.#tally.total,
      batches: this.#tally.batches,
      checkpointMs: this.#tally.checkpointMs,
      attempt: this.#attemptNumber,
      reason: reason ?? null,
      error: error ? `${error.name}: ${error.message}` : null,
    };
  }

  /** Records the run (unless `recorded`, its completion's row) and builds its result. */
  async #finish(
    status: RunStatus,
    reason?: SuspendReason,
    error?: Error,
    recorded?: RunRecord,
  ): Promise<RunResult<S>> {
    if (!recorded) await this.#store.recordRun(this.#record(status, reason, error));
    this.#emit("runFinished", (m) =>
      m.runFinished?.({
        ...this.#event(),
        status,
        reason: reason ?? null,
        processed: this.#tally.processed,
        resumedFrom: this.#resumedFrom,
        batches: this.#tally.batches,
        durationMs: this.#elapsed(),
        checkpointMs: this.#tally.checkpointMs,
        error: error ?? null,
      }),
    );
    return {
      runId: this.#runId,
      status,
      ...(reason ? { reason } : {}),
      processed: this.#tally.processed,
      skipped: this.#tally.skipped,
      resumedFrom: this.#resumedFrom,
      completed: this.#tally.completed,
      total: this.#tally.total,
      batches: this.#tally.batches,
      durationMs: this.#elapsed(),
      checkpointMs: this.#tally.checkpointMs,
      cursor: this.#tally.cursor,
      state: this.#tally.state,
      ...(status === "suspended" && this.#tally.batches === 0 ? { noProgress: true } : {}),
      ...(error ? { error } : {}),
    };
  }
}
