import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { CheckpointWrite, LeaseHandle, RunStore, StoredCheckpoint } from "../stores/store.js";
import { RunArtifacts } from "./artifacts.js";
import { checkpointKey, describeKey } from "./checkpoint-key.js";
import { InvalidOptionError } from "./errors.js";
import { idempotencyKeyOf } from "./idempotency.js";
import { consoleLogger, silentLogger } from "./logger.js";
import { defineProcessor, type Processor } from "./processor.js";
import { findShard } from "./shards.js";
import { parseState } from "./state.js";
import type { Cursor, Logger } from "./types.js";

/** Options of {@link redrive}. */
export interface RedriveOptions {
  store: RunStore;
  /** @default "default" */
  partition?: string;
  /** The shard whose ledger to redrive, when the processor defines `shards`. */
  shard?: string | number;
  /** @default the console */
  logger?: Logger | false;
  /** @default Date.now */
  now?: () => number;
}

/** What {@link redrive} did. */
export interface RedriveResult {
  /** `busy` when a run holds the partition's lease; nothing was redriven then. */
  readonly status: "completed" | "busy";
  /** Entities that succeeded and left the ledger. */
  readonly fixed: Cursor[];
  /** Entities that failed again (their ledger entry now has the new error). */
  readonly stillFailing: Cursor[];
  /** Ledger entries whose entity `lookup` did not return (left in the ledger). */
  readonly notFound: Cursor[];
}

/**
 * Reprocesses only the entities in the failure ledger of one (processor, partition), one at a
 * time, fetched with the processor's `lookup`. An entity that succeeds leaves the ledger in the
 * same transaction as its writes through `ctx.tx`; one that fails again stays, with its new
 * error. The checkpoint (cursor, state, artifacts) is left as it was; changes to `ctx.state` and
 * artifacts put during a redrive are discarded.
 *
 * @example
 * const { fixed, stillFailing } = await redrive(summaries, { store, partition: "2024-01-15" });
 */
export async function redrive<E, S, Tx>(
  definition: Processor<E, S, Tx>,
  options: RedriveOptions,
): Promise<RedriveResult> {
  const p = defineProcessor(definition);
  const partition = options.partition ?? "default";
  const shard = options.shard === undefined ? null : await findShard(p, partition, options.shard);
  const key = checkpointKey(p.name, partition, shard?.id);
  const where = describeKey(key);
  const logger = options.logger === false ? silentLogger : (options.logger ?? consoleLogger);
  const now = options.now ?? Date.now;
  const { store } = options;
  if (!p.lookup) {
    throw new InvalidOptionError(
      "lookup",
      `Processor ${p.name} has no lookup(ids, { partition }); redrive needs it to fetch the ` +
        "ledger's entities by id. Add it to the processor definition.",
    );
  }
  const result: RedriveResult = { status: "completed", fixed: [], stillFailing: [], notFound: [] };
  const ledger = await store.listFailures(key);
  if (ledger.length === 0) return result;
  const runId = randomUUID();
  const acquired = await store.acquire({
    ...key,
    owner: `${hostname()}:${process.pid}:redrive`,
    runId,
    leaseTtlMs: p.leaseTtlMs,
    now: now(),
  });
  if (!acquired.acquired) return { ...result, status: "busy" };
  const { lease, checkpoint } = acquired;
  try {
    const found = new Map<string, E>();
    for (const entity of await p.lookup(
      ledger.map((f) => f.cursor),
      { partition },
    )) {
      found.set(JSON.stringify(p.id(entity)), entity);
    }
    for (const failure of ledger) {
      const entity = found.get(JSON.stringify(failure.cursor));
      if (entity === undefined) {
        logger.warn(
          `Redrive of ${where}: lookup did not return ${JSON.stringify(failure.cursor)}.`,
        );
        result.notFound.push(failure.cursor);
        continue;
      }
      const error = await redriveOne(p, store, lease, checkpoint, entity, partition, now);
      if (error) {
        logger.warn(`Entity ${JSON.stringify(failure.cursor)} still fails: ${error.message}`);
        result.stillFailing.push(failure.cursor);
      } else {
        result.fixed.push(failure.cursor);
      }
    }
  } finally {
    // A checkpoint row this redrive created (no run ever started) is not left behind.
    await store.release(lease, now(), { discardEmpty: checkpoint.attempt === 1 });
  }
  logger.info(
    `Redrive of ${where}: ${result.fixed.length} fixed, ` +
      `${result.stillFailing.length} still failing, ${result.notFound.length} not found.`,
  );
  return result;
}

/** Processes one entity; on success its ledger entry goes with the commit. */
async function redriveOne<E, S, Tx>(
  p: Processor<E, S, Tx>,
  store: RunStore,
  lease: LeaseHandle,
  checkpoint: StoredCheckpoint,
  entity: E,
  partition: string,
  now: () => number,
): Promise<Error | null> {
  const id = p.id(entity);
  const state =
    checkpoint.state === null
      ? p.initialState?.({ partition })
      : parseState(checkpoint.state, lease);
  // The checkpoint is written back as it was: a redrive moves no cursor.
  const unchanged: CheckpointWrite = {
    processorVersion: checkpoint.processorVersion ?? p.version,
    cursor: checkpoint.cursor,
    completed: checkpoint.completed,
    total: checkpoint.total,
    state: checkpoint.state,
    fingerprint: checkpoint.fingerprint,
    leaseTtlMs: p.leaseTtlMs,
    now: now(),
  };
  const scope = store.openBatch(lease);
  // Reads see the partition's committed artifacts; puts are discarded like state changes.
  const runArtifacts = new RunArtifacts(store, lease, p.maxArtifactBytes, now);
  if (checkpoint.cursor !== null) await runArtifacts.openForResume();
  const artifacts = runArtifacts.forBatch();
  try {
    await p.processBatch([entity], {
      partition,
      state: state as S,
      signal: new AbortController().signal,
      log: silentLogger,
      tx: scope.tx as Tx,
      artifacts,
      batchNumber: 1,
      idempotencyKey: (e) => idempotencyKeyOf(p.name, p.version, partition, p.id(e as E)),
    });
  } catch (caught) {
    await scope.rollback();
    await artifacts.discard();
    const error = caught instanceof Error ? caught : new Error(String(caught));
    const failure = { cursor: id, error: `${error.name}: ${error.message}`, attempts: 1 };
    await store.openBatch(lease).commit({ ...unchanged, failures: [failure] });
    return error;
  }
  await scope.commit({ ...unchanged, resolvedFailures: [id] });
  await artifacts.discard();
  return null;
}
