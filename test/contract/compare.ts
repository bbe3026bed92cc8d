import assert from "node:assert/strict";
import { WaymarkError } from "../../src/core/errors.js";
import type { RunResult } from "../../src/core/run-result.js";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";

/**
 * The one-contract harness: a scenario runs on a fresh store of every kind (memory, SQLite,
 * PostgreSQL; `STORES=` narrows) and what it observes must be identical on all of them.
 * Errors are compared by kind: a WaymarkError by its code, anything else (a driver's
 * constraint error, a processor's own error) as `batch`, since drivers word their messages
 * differently by nature.
 */

/** The kind of an error, as the contract compares it. */
export function errorKind(error: unknown): string | null {
  if (error === undefined || error === null) return null;
  return error instanceof WaymarkError ? error.code : "batch";
}

/** A run's result without what varies by run (ids, times). */
export function resultOf(result: RunResult) {
  return {
    status: result.status,
    reason: result.reason ?? null,
    processed: result.processed,
    skipped: result.skipped,
    resumedFrom: result.resumedFrom,
    completed: result.completed,
    total: result.total,
    batches: result.batches,
    cursor: result.cursor,
    error: errorKind(result.error),
  };
}

/** The names of waymark's error classes. */
export const WAYMARK_ERRORS = new Set([
  "WaymarkError",
  "FencedError",
  "StoreError",
  "StateError",
  "InvalidOptionError",
  "OrderViolationError",
  "RunStoppedError",
]);

/** A history row's error (`Name: message`) as a kind: waymark's error class, or `batch`. */
function historyError(error: string | null): string | null {
  if (error === null) return null;
  const name = error.slice(0, error.indexOf(":"));
  return WAYMARK_ERRORS.has(name) ? name : "batch";
}

/** Run history, oldest first, without ids and times. */
export async function historyOf(store: CheckpointStore, processor?: string) {
  const runs = await store.listRuns(processor === undefined ? {} : { processor });
  return runs
    .slice()
    .reverse()
    .map((r) => ({
      kind: r.kind ?? "run",
      processor: r.processor,
      partition: r.partition,
      shard: r.shard,
      status: r.status,
      reason: r.reason,
      resumedFrom: r.resumedFrom,
      processed: r.processed,
      skipped: r.skipped ?? 0,
      total: r.total,
      batches: r.batches,
      attempt: r.attempt,
      error: historyError(r.error),
    }));
}

/** The failure ledger without times and messages. */
export async function ledgerOf(store: CheckpointStore) {
  return (await store.listFailures()).map((f) => ({
    partition: f.partition,
    shard: f.shard,
    cursor: f.cursor,
    attempts: f.attempts,
  }));
}

/** The effects written through `ctx.tx`, sorted by key. */
export async function effectsOf(opened: OpenedStore): Promise<Array<[string, number]>> {
  return [...(await opened.effects())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Runs `scenario` on a fresh store of every kind, asserts that every store observed the same
 * thing, and returns that observation (for the caller's own assertions on it).
 */
export async function onEveryStore<T>(scenario: (opened: OpenedStore) => Promise<T>): Promise<T> {
  const seen: Array<[string, T]> = [];
  for (const factory of STORE_FACTORIES) {
    const opened = await factory.open();
    try {
      seen.push([factory.name, await scenario(opened)]);
    } finally {
      await opened.cleanup();
    }
  }
  const [first, ...others] = seen;
  if (!first) throw new Error("no store to run the contract on (check STORES)");
  for (const [name, observed] of others) {
    assert.deepEqual(observed, first[1], `${name} differs from ${first[0]}`);
  }
  return first[1];
}
