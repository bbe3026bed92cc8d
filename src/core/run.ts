import { createHash, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type { LeaseHandle, RunRecord, StoredCheckpoint } from "../stores/store.js";
import { RunArtifacts } from "./artifacts.js";
import { BatchReader } from "./batch-reader.js";
import { FencedError, WaymarkError } from "./errors.js";
import { LeaseKeeper } from "./lease-keeper.js";
import type { RunMetrics } from "./metrics-hooks.js";
import { defineProcessor, type Processor } from "./processor.js";
import { readInput, resumePoint } from "./resume.js";
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
  const definition = defineProcessor(processor);
  // Loaded only when asked for: a run without a progress display never loads cli-progress.
  const progress = resolved.progress
    ? (await import("./progress.js")).attachProgress(definition.name, resolved)
    : undefined;
  const result = await new Runner(definition, progress?.options ?? resolved).execute();
  progress?.finish(result);
  return result;
}

class Runner<E, S, Tx> {
  readonly #p: Processor<E, S, Tx>;
  readonly #o: ResolvedRunOptions;
  readonly #where: string;
  readonly #runId = randomUUID();
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #abort = new AbortController();
  readonly #startedAt: number;
  readonly #startedPerf = performance.now();
  #lease: LeaseHandle | undefined;
  #attempt = 1;
  #resumedFrom: number | null = null;
  #completed = 0;
  #total: number | null = null;
  #processed = 0;
  #batches = 0;
  #checkpointMs = 0;
  #cursor: Cursor | null = null;
  #state: S = undefined as S;
  #committedState: string | null = null;
  #fingerprint: string | null = null;
  readonly #artifacts: RunArtifacts;
  #lastProgressLog = 0;

  constructor(processor: Processor<E, S, Tx>, options: ResolvedRunOptions) {
    this.#p = processor;
    this.#o = options;
    this.#where = `${processor.name}/${options.partition}`;
    this.#startedAt = options.now();
    this.#artifacts = new RunArtifacts(
      options.store,
      { processor: processor.name, partition: options.partition },
      processor.maxArtifactBytes,
      options.now,
    );
  }

  async execute(): Promise<RunResult> {
    const { store, logger } = this.#o;
    let keeper: LeaseKeeper | undefined;
    let reader: BatchReader<E> | undefined;
    try {
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
      this.#attempt = acquired.checkpoint.attempt;
      keeper = new LeaseKeeper(store, acquired.lease, this.#p.leaseTtlMs, this.#o.now, (error) => {
        if (error instanceof FencedError) this.#abort.abort(error);
        else logger.warn(`Lease renewal for ${this.#where} failed: ${error.message}`);
      });
      reader = await this.#open(acquired.checkpoint);
      // Recorded once resume point and total are known, so reports can rate the live run.
      await store.recordRun(this.#record("running"));
      this.#emit("runStarted", (m) =>
        m.runStarted?.({
          ...this.#event(),
          resumedFrom: this.#resumedFrom,
          total: this.#total,
          attempt: this.#attempt,
        }),
      );
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
      keeper?.stop();
      await reader?.close().catch(() => {});
    }
  }

  /** Decides fresh start or resume, prepares state and total, and opens the entity source. */
  async #open(checkpoint: StoredCheckpoint): Promise<BatchReader<E>> {
    const p = this.#p;
    const { partition, logger } = this.#o;
    const input = await readInput(p as Processor, partition);
    this.#fingerprint = input.fingerprint;
    let after: Cursor | null = null;
    const point =
      checkpoint.cursor !== null && this.#resumable(checkpoint)
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
      this.#resumedFrom = this.#completed = point.completed;
      this.#total = checkpoint.total;
      this.#cursor = point.cursor;
      this.#committedState = point.state;
      this.#state = parseState(point.state, p.name, partition) as S;
      await this.#artifacts.openForResume();
      logger.info(
        `Found checkpoint: ${this.#progressText()} complete (last: ${JSON.stringify(after)})`,
      );
    } else {
      this.#state = p.initialState?.({ partition }) as S;
      this.#committedState = serializeState(this.#state, p.maxStateBytes, this.#where);
      await this.#artifacts.openFresh();
    }
    if (p.count) this.#total = input.total;
    const source = await p.entities({ partition, after, signal: this.#abort.signal });
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
    // With `migrate`, resumePoint carries the checkpoint forward instead.
    if (checkpoint.processorVersion !== p.version && !p.migrate) {
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
    for (;;) {
      if (this.#o.signal?.aborted) return { status: "suspended", reason: "signal" };
      this.#throwIfFenced();
      const batch = await reader.next(batchSize);
      if (batch.length === 0) return { status: "completed" };
      await this.#runBatch(batch, reader.lastCursor as Cursor);
    }
  }

  async #runBatch(batch: E[], cursor: Cursor): Promise<void> {
    const p = this.#p;
    const { store, partition, logger } = this.#o;
    const lease = this.#lease as LeaseHandle;
    const scope = store.openBatch(lease);
    const artifacts = this.#artifacts.forBatch();
    const ctx = {
      partition,
      state: this.#state,
      signal: this.#abort.signal,
      log: logger,
      tx: scope.tx as Tx,
      artifacts,
      batchNumber: this.#batches + 1,
      idempotencyKey: (entity: unknown) => this.#idempotencyKey(entity as E),
    };
    let stateJson: string | null;
    try {
      await p.processBatch(batch, ctx);
      this.#throwIfFenced();
      stateJson = serializeState(ctx.state, p.maxStateBytes, this.#where);
    } catch (error) {
      await scope.rollback();
      await artifacts.discard();
      // The in-memory state may hold half a batch; the committed one is the truth.
      this.#state = parseState(this.#committedState, p.name, partition) as S;
      throw error;
    }
    const completed = this.#completed + batch.length;
    const started = performance.now();
    await scope.commit({
      processorVersion: p.version,
      cursor,
      completed,
      total: this.#total,
      state: stateJson,
      fingerprint: this.#fingerprint,
      artifacts: artifacts.staged(),
      leaseTtlMs: p.leaseTtlMs,
      now: this.#o.now(),
    });
    const commitMs = performance.now() - started;
    this.#checkpointMs += commitMs;
    await this.#artifacts.committed(artifacts, logger);
    this.#state = ctx.state;
    this.#committedState = stateJson;
    this.#completed = completed;
    this.#processed += batch.length;
    this.#batches++;
    this.#cursor = cursor;
    this.#emit("batchCommitted", (m) =>
      m.batchCommitted?.({ ...this.#event(), entities: batch.length, commitMs, completed }),
    );
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

  #event() {
    return { runId: this.#runId, processor: this.#p.name, partition: this.#o.partition };
  }

  /** Calls a metrics hook on every configured sink; a failing hook never fails the run. */
  #emit(hook: string, call: (metrics: RunMetrics) => void): void {
    for (const metrics of this.#o.metrics ?? []) {
      try {
        call(metrics);
      } catch (error) {
        this.#o.logger.warn(`Metrics hook ${hook} failed: ${(error as Error).message}`);
      }
    }
  }

  #throwIfFenced(): void {
    const reason: unknown = this.#abort.signal.reason;
    if (this.#abort.signal.aborted && reason instanceof Error) throw reason;
  }

  #idempotencyKey(entity: E): string {
    const id = this.#p.id(entity);
    return createHash("sha256")
      .update(JSON.stringify([this.#p.name, this.#p.version, this.#o.partition, id]))
      .digest("hex");
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
      attempt: this.#attempt,
      reason: reason ?? null,
      error: error ? `${error.name}: ${error.message}` : null,
    };
  }

  async #finish(status: RunStatus, reason?: SuspendReason, error?: Error): Promise<RunResult> {
    await this.#o.store.recordRun(this.#record(status, reason, error)).catch((e: Error) => {
      this.#o.logger.warn(`Could not record run ${this.#runId} in history: ${e.message}`);
    });
    this.#emit("runFinished", (m) =>
      m.runFinished?.({
        ...this.#event(),
        status,
        reason: reason ?? null,
        processed: this.#processed,
        resumedFrom: this.#resumedFrom,
        batches: this.#batches,
        durationMs: this.#elapsed(),
        checkpointMs: this.#checkpointMs,
        error: error ?? null,
      }),
    );
    return {
      runId: this.#runId,
      status,
      ...(reason ? { reason } : {}),
      processed: this.#processed,
      skipped: 0,
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
