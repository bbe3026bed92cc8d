import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { RunTally } from "./batch-executor.js";
import { FencedError, InvalidOptionError } from "./errors.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { RunStoppedError } from "./policies/stop.js";
import { defineProcessor, type Processor } from "./processor.js";
import { type RunOptions, resolveRunOptions } from "./run-options.js";
import { emitMetric, executorOf, setUpRun } from "./run-setup.js";
import { shardOfRun } from "./shard-run.js";
import { decodeState, encodeState } from "./state.js";
import type { Cursor } from "./types.js";
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
] as const satisfies ReadonlyArray<keyof RunOptions>;

/** What {@link redrive} did. */
export interface RedriveResult {
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
  const { processor, shard } = await shardOfRun(defined, resolved);
  const setup = setUpRun(processor, shard, resolved, randomUUID());
  const { store, logger, partition } = setup.options;
  const result: RedriveResult = { status: "completed", fixed: [], stillFailing: [], notFound: [] };
  const ledger = await store.listFailures(setup.key);
  if (ledger.length === 0) {
    setup.stopper.dispose();
    return result;
  }
  const acquired = await store.acquire({
    ...setup.key,
    owner: `${hostname()}:${process.pid}:redrive`,
    runId: setup.runId,
    leaseTtlMs: processor.leaseTtlMs,
    now: setup.options.now(),
  });
  if (!acquired.acquired) {
    setup.stopper.dispose();
    return { ...result, status: "busy" };
  }
  const { lease, checkpoint } = acquired;
  const keeper = new LeaseKeeper(
    store,
    lease,
    processor.leaseTtlMs,
    setup.options.now,
    (error) => {
      if (error instanceof FencedError) setup.stopper.abort(error);
      else logger.warn(`Lease renewal for ${setup.where} failed: ${error.message}`);
    },
    logger,
  );
  try {
    // The committed state and artifacts, as a resume would see them; nothing is cleared.
    const fresh = checkpoint.state === null;
    const initial = fresh ? processor.initialState?.({ partition }) : undefined;
    const tally: RunTally<S> = {
      completed: checkpoint.completed,
      total: checkpoint.total,
      totalGrew: false,
      processed: 0,
      skipped: 0,
      batches: 0,
      checkpointMs: 0,
      cursor: checkpoint.cursor,
      state: (fresh
        ? initial
        : decodeState(checkpoint.state, checkpoint.stateCodec, processor, setup.key)) as S,
      committedState: null,
    };
    tally.committedState = encodeState(tally.state, processor, setup.where);
    if (checkpoint.cursor !== null) await setup.artifacts.openForResume();
    const executor = executorOf(setup, lease, tally, {
      fingerprint: () => checkpoint.fingerprint,
      onCommitted: (entities, commitMs) =>
        emitMetric(setup.options, "batchCommitted", (m) =>
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
    for (const entity of await lookup(ids, { partition, ...(shard ? { shard } : {}) })) {
      found.set(JSON.stringify(processor.id(entity)), entity);
    }
    for (const failure of ledger) {
      if (executor.stopBefore(1)) return { ...result, status: "suspended" };
      const entity = found.get(JSON.stringify(failure.cursor));
      if (entity === undefined) {
        logger.warn(
          `Redrive of ${setup.where}: lookup did not return ${JSON.stringify(failure.cursor)}.`,
        );
        result.notFound.push(failure.cursor);
        continue;
      }
      let error: Error | null;
      try {
        error = await executor.redrive(entity);
      } catch (stopped) {
        if (stopped instanceof RunStoppedError) return { ...result, status: "suspended" };
        throw stopped;
      }
      if (error) {
        logger.warn(`Entity ${JSON.stringify(failure.cursor)} still fails: ${error.message}`);
        result.stillFailing.push(failure.cursor);
      } else {
        result.fixed.push(failure.cursor);
      }
    }
  } finally {
    keeper.stop();
    setup.stopper.dispose();
    // A checkpoint row this redrive created (no run ever started) is not left behind.
    await store.release(lease, setup.options.now(), { discardEmpty: checkpoint.attempt === 1 });
  }
  logger.info(
    `Redrive of ${setup.where}: ${result.fixed.length} fixed, ` +
      `${result.stillFailing.length} still failing, ${result.notFound.length} not found.`,
  );
  return result;
}
