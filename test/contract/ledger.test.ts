// The failure ledger follows the entity, the same way on every store: an entry is resolved
// (kept, with when and by which run) by the commit that processes its entity successfully, a
// run after a reset or a rerun as much as a redrive; a redrive never applies a resolved entry
// again; failing again opens it again. A run whose key has no open entries asks nothing more
// of the store, and only the batch holding a ledgered entity carries its resolution.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineProcessor } from "../../src/core/processor.js";
import { redrive } from "../../src/core/redrive.js";
import { run } from "../../src/core/run.js";
import type { CheckpointStore, CheckpointWrite } from "../../src/core/store/checkpoint-store.js";
import type { OpenedStore } from "../stores/stores.js";
import { effectsOf, onEveryStore, resultOf } from "./compare.js";

const KEY = { processor: "flaky-ledger", partition: "p", shard: "" };
const IDS = Array.from({ length: 30 }, (_, i) => i + 1);

/** Entities 1-30 in batches of five; those in `broken` fail every time. */
function flaky(opened: OpenedStore, broken: Set<number>, lookups: number[][] = []) {
  return defineProcessor<number>({
    name: KEY.processor,
    batchSize: 5,
    retry: false,
    skip: { limit: 3 },
    entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
    id: (n) => n,
    lookup: (ids) => {
      lookups.push(ids as number[]);
      return IDS.filter((n) => ids.includes(n));
    },
    async processBatch(batch, ctx) {
      const bad = batch.find((n) => broken.has(n));
      if (bad !== undefined) throw new Error(`entity ${bad} is broken`);
      for (const n of batch) await opened.writeEffect(ctx.tx, `e-${n}`);
    },
  });
}

/** Open entries, and resolved ones with the run that resolved them (by its place in `runs`). */
async function ledger(store: CheckpointStore, runs: readonly string[]) {
  const all = await store.listFailures({ status: "all" });
  return {
    open: (await store.listFailures()).map((f) => f.cursor),
    resolved: (await store.listFailures({ status: "resolved" })).map((f) => [
      f.cursor,
      runs.indexOf(f.resolvedBy as string),
      f.resolvedAt,
    ]),
    all: all.length,
  };
}

/**
 * The store, with every commit's ledger changes and every `listFailures` call written down:
 * what the store was asked to do, not a stand-in for it.
 */
function watched(store: CheckpointStore, options: { ledgerWithLease?: boolean } = {}) {
  const commits: Array<readonly unknown[]> = [];
  let listings = 0;
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      if (name === "acquire" && options.ledgerWithLease === false) {
        // A store that does not read the ledger with the lease, as a third-party one may not.
        return async (...args: Parameters<CheckpointStore["acquire"]>) => {
          const { ledger: _, ...acquired } = (await target.acquire(...args)) as {
            ledger?: unknown;
          };
          return acquired;
        };
      }
      if (name === "listFailures") {
        return (...args: Parameters<CheckpointStore["listFailures"]>) => {
          listings++;
          return target.listFailures(...args);
        };
      }
      if (name === "openBatch") {
        return (...args: Parameters<CheckpointStore["openBatch"]>) => {
          const scope = target.openBatch(...args);
          return {
            tx: scope.tx,
            rollback: () => scope.rollback(),
            commit: (write: CheckpointWrite) => {
              commits.push(write.resolvedFailures ?? []);
              return scope.commit(write);
            },
          };
        };
      }
      const value = Reflect.get(target, name, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: proxy, commits, listings: () => listings };
}

describe("the failure ledger follows the entity, on every store", { timeout: 120_000 }, () => {
  it("a run after a reset resolves the entries of the entities it processes", async () => {
    const seen = await onEveryStore(async (opened) => {
      const broken = new Set([7, 18]);
      const stop = new AbortController();
      const first = await run(flaky(opened, broken), {
        store: opened.store,
        partition: "p",
        logger: false,
        now: () => 1000,
        signal: stop.signal,
        onProgress: (p) => p.completed >= 20 && stop.abort(),
      });
      const before = await ledger(opened.store, []);
      broken.delete(7);
      await opened.store.deleteCheckpoint(KEY);
      const second = await run(flaky(opened, broken), {
        store: opened.store,
        partition: "p",
        logger: false,
        now: () => 2000,
      });
      return {
        first: resultOf(first),
        before,
        second: resultOf(second),
        after: await ledger(opened.store, [second.runId]),
      };
    });
    assert.equal(seen.first.status, "suspended");
    // Both failed in the same millisecond: the ledger orders them by cursor text.
    assert.deepEqual(seen.before, { open: [18, 7], resolved: [], all: 2 });
    assert.equal(seen.second.status, "completed");
    assert.deepEqual(seen.after, { open: [18], resolved: [[7, 0, 2000]], all: 2 });
  });

  it("a redrive never applies an entry a later run resolved; failing again opens it", async () => {
    const seen = await onEveryStore(async (opened) => {
      const broken = new Set([7]);
      const lookups: number[][] = [];
      const processor = flaky(opened, broken, lookups);
      const options = { store: opened.store, partition: "p", logger: false } as const;
      await run(processor, options);
      broken.clear();
      const rerun = await run(processor, options);
      const redriven = await redrive(processor, options);
      const effects = new Map(await effectsOf(opened));
      broken.add(7);
      const again = await run(processor, options);
      return {
        rerun: resultOf(rerun),
        redriven: [redriven.fixed, redriven.stillFailing, lookups],
        writesOf7: effects.get("e-7"),
        again: resultOf(again),
        ledger: await ledger(opened.store, [rerun.runId]),
      };
    });
    assert.equal(seen.rerun.status, "completed");
    assert.deepEqual(seen.redriven, [[], [], []], "nothing to redrive, lookup not even called");
    assert.equal(seen.writesOf7, 1, "entity 7 was processed once, by the rerun");
    assert.equal(seen.again.skipped, 1);
    assert.deepEqual(seen.ledger.open, [7], "failing again opened the entry again");
    assert.deepEqual(seen.ledger.resolved, []);
  });

  it("a batch searched for its failures resolves the ledgered entity of the part that commits", async () => {
    const seen = await onEveryStore(async (opened) => {
      const broken = new Set([7]);
      const options = { store: opened.store, partition: "p", logger: false } as const;
      await run(flaky(opened, broken), options);
      broken.clear();
      broken.add(9);
      const next = await run(flaky(opened, broken), { ...options, now: () => 3000 });
      return { next: resultOf(next), ledger: await ledger(opened.store, [next.runId]) };
    });
    assert.equal(seen.next.skipped, 1);
    assert.deepEqual(seen.ledger.open, [9]);
    assert.deepEqual(seen.ledger.resolved, [[7, 0, 3000]]);
  });

  it("a redrive resolves what it fixes, and keeps it for the record", async () => {
    const seen = await onEveryStore(async (opened) => {
      const broken = new Set([7, 8]);
      const processor = flaky(opened, broken);
      const options = { store: opened.store, partition: "p", logger: false } as const;
      await run(processor, options);
      broken.delete(7);
      const redriven = await redrive(processor, { ...options, now: () => 5000 });
      return { fixed: redriven.fixed, ledger: await ledger(opened.store, [redriven.runId]) };
    });
    assert.deepEqual(seen.fixed, [7]);
    assert.deepEqual(seen.ledger, { open: [8], resolved: [[7, 0, 5000]], all: 2 });
  });

  it("costs nothing without open entries; only the batch holding one resolves it", async () => {
    const seen = await onEveryStore(async (opened) => {
      const broken = new Set<number>();
      const clean = watched(opened.store);
      await run(flaky(opened, broken), { store: clean.store, partition: "q", logger: false });
      broken.add(12);
      await run(flaky(opened, broken), { store: opened.store, partition: "p", logger: false });
      broken.clear();
      const ledgered = watched(opened.store);
      await run(flaky(opened, broken), { store: ledgered.store, partition: "p", logger: false });
      return {
        clean: [clean.listings(), clean.commits.filter((c) => c.length > 0).length],
        ledgered: [ledgered.listings(), ledgered.commits],
      };
    });
    assert.deepEqual(seen.clean, [0, 0], "no ledger query, no resolution in any commit");
    assert.deepEqual(seen.ledgered, [0, [[], [], [12], [], [], []]]);
  });

  it("asks a store that does not read the ledger with the lease once per run", async () => {
    const seen = await onEveryStore(async (opened) => {
      const broken = new Set([12]);
      await run(flaky(opened, broken), { store: opened.store, partition: "p", logger: false });
      broken.clear();
      const plain = watched(opened.store, { ledgerWithLease: false });
      await run(flaky(opened, broken), { store: plain.store, partition: "p", logger: false });
      return { listings: plain.listings(), open: (await opened.store.listFailures()).length };
    });
    assert.deepEqual(seen, { listings: 1, open: 0 });
  });
});
