import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { createTally } from "./batch-executor.js";
import { InvalidOptionError } from "./errors.js";
import { HeldLease, holdLease } from "./lease-hold.js";
import { RunStoppedError } from "./policies/stop.js";
import { defineProcessor, type Processor } from "./processor.js";
import { type RunOptions, resolveRunOptions } from "./run-options.js";
import { emitMetric, executorOf, type RunSetup, setUpRun } from "./run-setup.js";
import { decodeState, encodeState } from "./state.js";
import type { StoredCheckpoint, StoredFailure } from "./store/records.js";
import type { Cursor } from "./types.js";
import { unitOfRun } from "./unit.js";
import { refuseUnknownKeys } from "./validate.js";

/**
 * Options of {@link redrive}: those of `run` that apply to reprocessing single entities.
 * `shard` names the shard whose ledger to redrive, for a processor with `shards`.
 */
export type RedriveOptions<Tx = unknown> = Pick<RunOptions<Tx>, (typeof REDRIVE_OPTIONS)[number]>;

/** The options of `run` that a redrive takes; the rest are refused by name. */
const REDRIVE_OPTIONS = [
  "store",
  "partition",
  "shard",
  "logger",
  "now",
  "sleep",
  "signal",
  "metrics",
  "breaker",
  "quota",
] as const satisfies ReadonlyArray<keyof RunOptions>;

/** What {@link redrive} did. */
export interface RedriveResult {
  /** The redrive's id in history (`waymark runs`), where it is recorded as a `redrive`. */
  readonly runId: string;
  /**
   * `busy` when a run holds the partition's lease (nothing was redriven); `suspended` when
   * `signal` stopped it between entities (the rest stay in the ledger).
   */
  readonly status: "completed" | "busy" | "suspended";
  /** Entities that succeeded and left the ledger. */
  readonly fixed: Cursor[];
  /** Entities that failed again (their ledger entry now has the new error). */
  readonly stillFailing: Cursor[];
  /** Ledger entries whose entity `lookup` did not return (left in the ledger). */
  readonly notFound: Cursor[];
}

/**
 * Reprocesses only the entities in the failure ledger of one (processor, partition[, shard]),
 * one at a time, fetched with the processor's `lookup`. Each goes through the same batch
 * execution as `run` (context, logger, retry policy, breaker, metrics, fencing): one that
 * succeeds leaves the ledger in the same transaction as its writes through `ctx.tx`; one that
 * fails again stays, with its new error. The checkpoint is left exactly as it was: cursor,
 * counts, state, artifacts and its age (a redrive never makes an expired checkpoint young).
 * Changes to `ctx.state` and artifacts put during a redrive are discarded.
 *
 * @example
 * const { fixed, stillFailing } = await redrive(summaries, { store, partition: "2024-01-15" });
 */
export async function redrive<E, S, Tx>(
  definition: Processor<E, S, Tx>,
  options: RedriveOptions<NoInfer<Tx>>,
): Promise<RedriveResult> {
  // run's other options (a time budget, progress) have no meaning for a redrive.
  refuseUnknownKeys(options, REDRIVE_OPTIONS, "redrive");
  const resolved = resolveRunOptions(options, "redrive");
  const defined = defineProcessor(definition);
  if (!defined.lookup) {
    throw new InvalidOptionError(
      "lookup",
      `Processor ${defined.name} has no lookup(ids, { partition }); redrive needs it to fetch ` +
        "the ledger's entities by id. Add it to the processor definition.",
    );
  }
  const unit = await unitOfRun(defined, resolved.partition, resolved.shard);
  const setup = setUpRun(defined, unit, resolved, randomUUID());
  try {
    return await new Redrive(setup).execute();
  } finally {
    setup.stopper.dispose();
  }
}

/** One redrive: holds the lease like a run, and records itself in history as a `redrive`. */
class Redrive<E, S, Tx> {
  readonly #setup: RunSetup<E, S, Tx>;
  readonly #result: Mutable<RedriveResult>;
  #held: HeldLease | undefined;
  #batches = 0;
  #checkpointMs = 0;
  #attempt = 0;

  constructor(setup: RunSetup<E, S, Tx>) {
    this.#setup = setup;
    this.#result = {
      runId: setup.runId,
      status: "completed",
      fixed: [],
      stillFailing: [],
      notFound: [],
    };
  }

  async execute(): Promise<RedriveResult> {
    const { store, where, key, runId, processor, options } = this.#setup;
    const logger = options.logger;
    const ledger = await store.listFailures(key);
    if (ledger.length === 0) return this.#result;
    try {
      const taken = await holdLease(
        store,
        {
          ...key,
          owner: `${hostname()}:${process.pid}:redrive`,
          runId,
          leaseTtlMs: processor.leaseTtlMs,
          now: options.now(),
          kind: "redrive",
        },
        { now: options.now, logger, onFenced: (error) => this.#setup.stopper.abort(error) },
      );
      if (!(taken instanceof HeldLease)) {
        const holder = "busy" in taken ? ` by ${taken.busy.owner}` : "";
        logger.info(`Redrive of ${where} is busy: leased${holder}.`);
        return await this.#finish("busy");
      }
      this.#held = taken;
      this.#attempt = taken.checkpoint.attempt;
      await this.#redrive(taken.checkpoint, ledger);
      // A checkpoint row this redrive created (no run ever started) is not left behind.
      await taken.release({ discardEmpty: taken.checkpoint.cursor === null });
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught));
      logger.error(`Redrive of ${where} failed: ${error.message}`);
      await this.#held?.release({ discardEmpty: this.#held.checkpoint.cursor === null });
      return await this.#finish("failed", error);
    } finally {
      this.#held?.stop();
      await this.#setup.quota?.release();
    }
    const { fixed, stillFailing, notFound } = this.#result;
    logger.info(
      `Redrive of ${where}: ${fixed.length} fixed, ${stillFailing.length} still failing, ` +
        `${notFound.length} not found.`,
    );
    return await this.#finish(this.#result.status);
  }

  /** Reprocesses each ledger entry through the run's batch executor. */
  async #redrive(checkpoint: StoredCheckpoint, ledger: readonly StoredFailure[]): Promise<void> {
    const setup = this.#setup;
    const { processor, options } = setup;
    const { logger, partition } = options;
    const result = this.#result;
    // The committed state and artifacts, as a resume would see them; nothing is cleared.
    const fresh = checkpoint.state === null;
    const tally = createTally<S>({
      completed: checkpoint.completed,
      total: checkpoint.total,
      cursor: checkpoint.cursor,
      state: (fresh
        ? processor.initialState?.({ partition })
        : decodeState(checkpoint.state, checkpoint.stateCodec, processor, setup.key)) as S,
    });
    tally.committedState = encodeState(tally.state, processor, setup.where);
    if (checkpoint.cursor !== null) await setup.artifacts.openForResume();
    const executor = executorOf(setup, (this.#held as HeldLease).lease, tally, {
      fingerprint: () => checkpoint.fingerprint,
      onCommitted: (entities, commitMs) =>
        emitMetric(options, "batchCommitted", (m) =>
          m.batchCommitted?.({
            runId: setup.runId,
            processor: processor.name,
            partition,
            entities,
            commitMs,
            completed: tally.completed,
          }),
        ),
    });
    const lookup = processor.lookup as NonNullable<Processor<E, S, Tx>["lookup"]>;
    const found = new Map<string, E>();
    const ids = ledger.map((f) => f.cursor);
    const shard = setup.shard;
    for (const entity of await lookup(ids, { partition, ...(shard ? { shard } : {}) })) {
      found.set(JSON.stringify(processor.id(entity)), entity);
    }
    try {
      for (const failure of ledger) {
        if (executor.stopBefore(1)) {
          result.status = "suspended";
          return;
        }
        const entity = found.get(JSON.stringify(failure.cursor));
        if (entity === undefined) {
          logger.warn(
            `Redrive of ${setup.where}: lookup did not return ${JSON.stringify(failure.cursor)}.`,
          );
          result.notFound.push(failure.cursor);
          continue;
        }
        const error = await executor.redrive(entity);
        if (error) {
          logger.warn(`Entity ${JSON.stringify(failure.cursor)} still fails: ${error.message}`);
          result.stillFailing.push(failure.cursor);
        } else {
          result.fixed.push(failure.cursor);
        }
      }
    } catch (stopped) {
      if (!(stopped instanceof RunStoppedError)) throw stopped;
      result.status = "suspended";
    } finally {
      this.#batches = tally.batches;
      this.#checkpointMs = tally.checkpointMs;
    }
  }

  /** Records the redrive in history, as a run of its own kind, and builds its result. */
  async #finish(status: RedriveResult["status"] | "failed", error?: Error): Promise<RedriveResult> {
    const { store, options, key, runId } = this.#setup;
    const result = this.#result;
    await store.recordRun({
      runId,
      kind: "redrive",
      ...key,
      status,
      startedAt: this.#setup.startedAt,
      finishedAt: options.now(),
      resumedFrom: null,
      processed: result.fixed.length + result.stillFailing.length,
      total: null,
      batches: this.#batches,
      checkpointMs: this.#checkpointMs,
      attempt: this.#attempt,
      reason: status === "suspended" ? "signal" : null,
      error: error
        ? `${error.name}: ${error.message}`
        : result.stillFailing.length > 0
          ? `${result.stillFailing.length} entities still fail`
          : null,
    });
    if (status === "failed") throw error;
    return { ...result, status };
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
