// One ctx.tx contract on every store: a statement written through ctx.tx that fails is a
// failure of its batch (retried, skipped by bisection) wherever the store runs it (at once on
// PostgreSQL, at commit on SQLite and memory); a store that cannot be reached at commit is
// retried; a fenced runner is never retried and ends failed with FENCED.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { StoreError } from "../../src/core/errors.js";
import { defineProcessor, type ProcessorDefinition } from "../../src/core/processor.js";
import { run } from "../../src/core/run.js";
import type { BatchScope, CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import type { SqliteTx } from "../../src/stores/sqlite/sqlite-tx.js";
import type { OpenedStore } from "../stores/stores.js";
import { captureLogger } from "../support/logger.js";
import { noBackoff } from "../support/time.js";
import { effectsOf, historyOf, ledgerOf, onEveryStore, resultOf } from "./compare.js";

const IDS = Array.from({ length: 10 }, (_, i) => i + 1);

/** Ten entities in batches of five; entity 7 writes a row the effects table refuses. */
function poisoned(
  opened: OpenedStore,
  calls: number[],
  extra: Partial<ProcessorDefinition<number, undefined>> = {},
) {
  return defineProcessor<number>({
    name: "poisoned",
    batchSize: 5,
    entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
    id: (n) => n,
    retry: { attempts: 2, initialDelayMs: 1 },
    async processBatch(batch, ctx) {
      calls.push(batch.length);
      for (const n of batch) await opened.writeEffect(ctx.tx, n === 7 ? "poison-7" : `e-${n}`);
    },
    ...extra,
  });
}

describe("one ctx.tx contract on every store", { timeout: 120_000 }, () => {
  it("a failing ctx.tx statement fails its batch, which retryable() may have retried", async () => {
    const seen = await onEveryStore(async (opened) => {
      const calls: number[] = [];
      const retry = { attempts: 2, initialDelayMs: 1, retryable: () => true };
      const result = await run(poisoned(opened, calls, { retry }), {
        store: opened.store,
        logger: false,
        sleep: noBackoff,
      });
      return {
        result: resultOf(result),
        calls,
        effects: await effectsOf(opened),
        history: await historyOf(opened.store),
        checkpoint: (await opened.store.listCheckpoints()).map((c) => [c.cursor, c.completed]),
      };
    });
    assert.equal(seen.result.status, "failed");
    assert.equal(seen.result.error, "batch");
    assert.deepEqual(seen.calls, [5, 5, 5, 5], "batch 2 was called three times: two retries");
    assert.deepEqual(
      seen.effects.map(([k]) => k),
      ["e-1", "e-2", "e-3", "e-4", "e-5"],
    );
    assert.deepEqual(seen.checkpoint, [[5, 5]], "the last good checkpoint stays");
    assert.equal(seen.history[0]?.status, "failed");
  });

  it("retryable() decides for a failing ctx.tx statement as for a thrown error", async () => {
    const seen = await onEveryStore(async (opened) => {
      const calls: number[] = [];
      const retry = { attempts: 2, initialDelayMs: 1, retryable: () => false };
      const result = await run(poisoned(opened, calls, { retry }), {
        store: opened.store,
        logger: false,
        sleep: noBackoff,
      });
      return { result: resultOf(result), calls };
    });
    assert.deepEqual(seen.calls, [5, 5], "a permanent error is not retried");
    assert.equal(seen.result.status, "failed");
  });

  it("a constraint a ctx.tx statement breaks is permanent: not retried, the line names it", async () => {
    const seen = await onEveryStore(async (opened) => {
      const calls: number[] = [];
      const { logger, lines } = captureLogger();
      const result = await run(poisoned(opened, calls), {
        store: opened.store,
        logger,
        sleep: noBackoff,
      });
      const permanent = lines.filter((l) =>
        /^warn: Batch 2 of poisoned\/default failed \(attempt 1 of 3\): .*check constraint.*\. Not retried: (SQLITE_CONSTRAINT_CHECK|23514 check_violation) is permanent; `retryable` overrides\.$/i.test(
          l,
        ),
      );
      return {
        result: resultOf(result),
        calls,
        permanent: permanent.length,
        retried: lines.some((l) => /Retrying/.test(l)),
        history: await historyOf(opened.store),
      };
    });
    assert.equal(seen.result.status, "failed");
    assert.deepEqual(seen.calls, [5, 5], "batch 2 was called once: no backoff for a constraint");
    assert.equal(seen.permanent, 1, "one line names the permanent class");
    assert.equal(seen.retried, false);
    assert.equal(seen.history[0]?.status, "failed");
  });

  it("with skip, a permanent ctx.tx failure goes straight to bisection and the ledger", async () => {
    const seen = await onEveryStore(async (opened) => {
      const calls: number[] = [];
      const result = await run(poisoned(opened, calls, { skip: { limit: 5 } }), {
        store: opened.store,
        logger: false,
        sleep: noBackoff,
      });
      return { result: resultOf(result), calls, ledger: await ledgerOf(opened.store) };
    });
    assert.equal(seen.result.status, "completed");
    assert.equal(seen.result.skipped, 1);
    // Batch 2 once, then [6-8], [6,7], [6], [7], [8] and [9,10]: no retries.
    assert.deepEqual(seen.calls, [5, 5, 3, 2, 1, 1, 1, 2]);
    // Entity 7 was in four failing calls: batch 2, [6-8], [6,7] and [7] alone.
    assert.deepEqual(seen.ledger, [{ partition: "default", shard: "", cursor: 7, attempts: 4 }]);
  });

  it("with skip, bisection finds the entity whose ctx.tx write fails and the run completes", async () => {
    const seen = await onEveryStore(async (opened) => {
      const calls: number[] = [];
      const retry = { attempts: 2, initialDelayMs: 1, retryable: () => true };
      const result = await run(poisoned(opened, calls, { skip: { limit: 5 }, retry }), {
        store: opened.store,
        logger: false,
        sleep: noBackoff,
      });
      return {
        result: resultOf(result),
        calls,
        effects: await effectsOf(opened),
        ledger: await ledgerOf(opened.store),
        history: await historyOf(opened.store),
      };
    });
    assert.equal(seen.result.status, "completed");
    assert.equal(seen.result.skipped, 1);
    assert.equal(seen.result.processed, 9);
    assert.deepEqual(
      seen.effects.map(([k, n]) => `${k}:${n}`),
      IDS.filter((n) => n !== 7)
        .map((n) => `e-${n}`)
        .sort()
        .map((k) => `${k}:1`),
      "every other entity exactly once",
    );
    // Entity 7 was in six failing calls: three of batch 2, then [6-8], [6,7] and [7] alone.
    assert.deepEqual(seen.ledger, [{ partition: "default", shard: "", cursor: 7, attempts: 6 }]);
  });

  it("a store that cannot be reached at commit is retried, even when retryable() says no", async () => {
    const seen = await onEveryStore(async (opened) => {
      const calls: number[] = [];
      const { logger, lines } = captureLogger();
      const store = failingCommits(opened.store, [2]);
      const retry = { attempts: 2, initialDelayMs: 1, retryable: () => false };
      const result = await run(
        defineProcessor<number>({
          name: "unreachable",
          batchSize: 5,
          entities: () => IDS,
          id: (n) => n,
          retry,
          async processBatch(batch, ctx) {
            calls.push(batch.length);
            for (const n of batch) await opened.writeEffect(ctx.tx, `e-${n}`);
          },
        }),
        { store, logger, sleep: noBackoff },
      );
      return {
        result: resultOf(result),
        calls,
        effects: await effectsOf(opened),
        retries: lines.filter((l) => /Retrying/.test(l)).length,
        history: await historyOf(opened.store),
      };
    });
    assert.equal(seen.result.status, "completed");
    assert.deepEqual(seen.calls, [5, 5, 5], "batch 2 ran again after its commit failed");
    assert.equal(seen.retries, 1);
    assert.deepEqual(
      seen.history.map((h) => [h.status, h.processed, h.batches, h.error]),
      [["completed", 10, 2, null]],
    );
    assert.ok(
      seen.effects.every(([, n]) => n === 1),
      "exactly once",
    );
  });

  it("on SQLite, a file another process keeps locked through a commit is retried", async () => {
    const dir = mkdtempSync(join(tmpdir(), "waymark-busy-"));
    const file = join(dir, "waymark.db");
    const store = new SqliteStore(file, { busyTimeoutMs: 20 });
    const other = new Database(file);
    const { logger, lines } = captureLogger();
    let locked = false;
    try {
      store.database.exec("CREATE TABLE seen (id INTEGER PRIMARY KEY)");
      const result = await run(
        defineProcessor<number, undefined, SqliteTx>({
          name: "busy",
          batchSize: 5,
          entities: () => IDS,
          id: (n) => n,
          retry: { attempts: 1, initialDelayMs: 1, retryable: () => false },
          processBatch(batch, ctx) {
            for (const n of batch) ctx.tx.run("INSERT INTO seen (id) VALUES (?)", n);
            // Another process takes the write lock just before batch 2 commits.
            if (ctx.batchNumber === 2 && !locked) {
              locked = true;
              other.exec("BEGIN IMMEDIATE");
            }
          },
        }),
        {
          store,
          logger,
          // The other process lets go while the run waits to retry.
          sleep: async () => void other.exec("COMMIT"),
        },
      );
      assert.equal(result.status, "completed", result.error?.message);
      assert.equal(lines.filter((l) => /locked by another process.*Retrying/.test(l)).length, 1);
      const count = store.database.prepare("SELECT count(*) AS n FROM seen").get() as { n: number };
      assert.equal(count.n, 10);
    } finally {
      other.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a fenced runner is not retried: it ends failed with FENCED and commits nothing more", async () => {
    const T0 = 1_700_000_000_000;
    const seen = await onEveryStore(async (opened) => {
      const calls: number[] = [];
      const processor = (takeOver: boolean) =>
        defineProcessor<number>({
          name: "fenced",
          batchSize: 5,
          leaseTtlMs: 1000,
          entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
          id: (n) => n,
          retry: { attempts: 3, initialDelayMs: 1 },
          async processBatch(batch, ctx) {
            calls.push(batch.length);
            if (takeOver && ctx.batchNumber === 2) {
              // Another runner takes the lease once this one's (frozen) clock let it expire.
              const taken = await opened.store.acquire({
                processor: "fenced",
                partition: "default",
                shard: "",
                owner: "other",
                runId: "other-run",
                leaseTtlMs: 1000,
                now: T0 + 5000,
              });
              assert.ok(taken.acquired);
            }
            for (const n of batch) await opened.writeEffect(ctx.tx, `e-${n}`);
          },
        });
      const fenced = await run(processor(true), {
        store: opened.store,
        logger: false,
        now: () => T0,
        sleep: noBackoff,
      });
      const resumed = await run(processor(false), {
        store: opened.store,
        logger: false,
        now: () => T0 + 10_000,
        sleep: noBackoff,
      });
      return {
        fenced: resultOf(fenced),
        resumed: resultOf(resumed),
        calls,
        effects: await effectsOf(opened),
        history: await historyOf(opened.store),
      };
    });
    assert.equal(seen.fenced.status, "failed");
    assert.equal(seen.fenced.error, "FENCED");
    assert.equal(seen.fenced.completed, 5);
    assert.deepEqual(seen.calls, [5, 5, 5], "the fenced batch ran once; the next run resumed");
    assert.equal(seen.resumed.resumedFrom, 5);
    assert.ok(
      seen.effects.every(([, n]) => n === 1),
      "the fenced batch's writes never landed",
    );
    assert.deepEqual(
      seen.history.map((h) => [h.status, h.error]),
      [
        ["failed", "FencedError"],
        ["completed", null],
      ],
    );
  });
});

/**
 * The store, except that the commits of the given batches (counted from 1) fail once with
 * `STORE_UNAVAILABLE` after rolling back, as a dropped connection or a busy file would.
 */
function failingCommits(store: CheckpointStore, batches: number[]): CheckpointStore {
  let commits = 0;
  const failed = new Set<number>();
  return new Proxy(store, {
    get(target, key) {
      if (key !== "openBatch") {
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (...args: Parameters<CheckpointStore["openBatch"]>) => {
        const scope = target.openBatch(...args) as BatchScope<unknown>;
        return {
          tx: scope.tx,
          rollback: () => scope.rollback(),
          commit: async (write: Parameters<BatchScope<unknown>["commit"]>[0]) => {
            commits++;
            if (batches.includes(commits - failed.size) && !failed.has(commits - failed.size)) {
              failed.add(commits - failed.size);
              await scope.rollback();
              throw new StoreError("STORE_UNAVAILABLE", "the connection was lost (injected)");
            }
            return scope.commit(write);
          },
        };
      };
    },
  });
}
