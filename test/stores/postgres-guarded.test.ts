import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import pg from "pg";
import { defineProcessor } from "../../src/core/processor.js";
import { redrive } from "../../src/core/redrive.js";
import { run } from "../../src/core/run.js";
import { runPartitions } from "../../src/core/run-partitions.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import type { PgTx } from "../../src/stores/postgres/postgres-tx.js";
import { startFaultProxy } from "../support/fault-proxy.js";
import { noBackoff } from "../support/time.js";
import { NO_SERVER, PG_TEST_URL } from "./postgres-factory.js";

/**
 * Drops, once, the reply of the COMMIT that ends the transaction of the first statement
 * matching `committed` (the claim runs in a transaction that holds the key's lock), and the
 * reply of the first statement matching `statement`.
 */
function dropOnce(committed: RegExp, statement: RegExp) {
  let armed: "waiting" | "commit-next" | "done" = "waiting";
  let statementDropped = false;
  return (sql: string) => {
    if (armed === "waiting" && committed.test(sql)) armed = "commit-next";
    else if (armed === "commit-next" && /^\s*COMMIT/i.test(sql)) {
      armed = "done";
      return true;
    }
    if (!statementDropped && statement.test(sql)) {
      statementDropped = true;
      return true;
    }
    return false;
  };
}

/**
 * A PostgresStore in a fresh schema reached through the fault proxy, whose replies `armed.drop`
 * decides to drop; `direct` reaches the server without the proxy, to check what landed.
 */
async function withProxiedStore(
  seed: number,
  test: (opened: {
    store: PostgresStore;
    direct: pg.Pool;
    schema: string;
    armed: { drop: (sql: string) => boolean };
    proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  }) => Promise<void>,
): Promise<void> {
  const url = PG_TEST_URL as string;
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const direct = new pg.Pool({ connectionString: url, max: 2 });
  const armed = { drop: (_sql: string) => false };
  const proxy = await startFaultProxy({
    target: url,
    seed,
    probability: {},
    dropReplyOf: (sql) => armed.drop(sql),
  });
  const store = await PostgresStore.open({ connectionString: proxy.url, schema, poolSize: 4 });
  try {
    await test({ store, direct, schema, armed, proxy });
  } finally {
    await store.close();
    await proxy.close();
    await direct.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await direct.end();
  }
}

/** Drops, once each, the reply of the COMMIT after the first statement matching each pattern. */
function dropCommitsAfter(...statements: RegExp[]) {
  const pending = [...statements];
  let armed = false;
  return (sql: string) => {
    if (armed && /^\s*COMMIT/i.test(sql)) {
      armed = false;
      return true;
    }
    const next = pending.findIndex((pattern) => pattern.test(sql));
    if (!armed && next >= 0) {
      pending.splice(next, 1);
      armed = true;
    }
    return false;
  };
}

describe("a redrive writes through the guarded store", { skip: NO_SERVER, timeout: 60_000 }, () => {
  it("reads back a lost acquire and a lost release: its true result, and no lease left", async () => {
    await withProxiedStore(1, async ({ store, direct, schema, armed, proxy }) => {
      await direct.query(`CREATE TABLE ${schema}.effects (id INT PRIMARY KEY, writes INT)`);
      const poisoned = { on: true };
      const processor = defineProcessor<number, undefined, PgTx>({
        name: "guarded",
        batchSize: 5,
        retry: false,
        skip: { limit: 5 },
        entities: ({ after }) => [1, 2, 3, 4, 5, 6, 7, 8].filter((n) => n > (after ?? 0)),
        id: (n) => n,
        lookup: (ids) => ids,
        async processBatch(batch, ctx) {
          if (poisoned.on && batch.includes(3)) throw new Error("entity 3 is poisoned");
          await ctx.tx.query(
            `INSERT INTO ${schema}.effects (id, writes) SELECT unnest($1::int[]), 1
             ON CONFLICT (id) DO UPDATE SET writes = effects.writes + 1`,
            [batch],
          );
        },
      });
      const first = await run(processor, { store, partition: "p", logger: false });
      assert.equal(first.status, "completed");
      assert.equal(first.skipped, 1);

      poisoned.on = false;
      // The completed partition has no checkpoint: the redrive creates an empty one and its
      // release deletes it again (a release that finds no row to delete updates nothing).
      armed.drop = dropOnce(/INSERT INTO \S+\.checkpoints AS c/, /AND cursor IS NULL/);
      const result = await redrive(processor, {
        store,
        partition: "p",
        logger: false,
        sleep: noBackoff,
      });
      assert.deepEqual(
        proxy.faults.map((f) => f.kind),
        ["commit-reply", "statement-reply"],
        "both replies were dropped",
      );
      assert.deepEqual(
        { status: result.status, fixed: result.fixed, stillFailing: result.stillFailing },
        { status: "completed", fixed: [3], stillFailing: [] },
      );
      const leases = await direct.query(
        `SELECT lease_owner FROM ${schema}.checkpoints WHERE lease_owner IS NOT NULL`,
      );
      assert.deepEqual(leases.rows, [], "no lease is left behind");
      const effects = await direct.query(`SELECT id, writes FROM ${schema}.effects ORDER BY id`);
      assert.deepEqual(
        effects.rows.map((r) => [r.id, r.writes]),
        [1, 2, 3, 4, 5, 6, 7, 8].map((id) => [id, 1]),
        "every entity's effect exactly once",
      );
      const recorded = await store.listRuns({ runId: result.runId });
      assert.deepEqual(
        recorded.map((r) => [r.kind, r.status, r.processed]),
        [["redrive", "completed", 1]],
      );
    });
  });
});

describe("a backfill writes through the guarded store", {
  skip: NO_SERVER,
  timeout: 60_000,
}, () => {
  it("reads back a lost claim and a lost completion: each partition once, no lease left", async () => {
    await withProxiedStore(2, async ({ store, direct, schema, armed, proxy }) => {
      await direct.query(
        `CREATE TABLE ${schema}.effects (partition TEXT, id INT, writes INT, PRIMARY KEY (partition, id))`,
      );
      const processor = defineProcessor<number, undefined, PgTx>({
        name: "guarded-backfill",
        batchSize: 4,
        retry: false,
        entities: ({ after }) => [1, 2, 3, 4, 5, 6, 7, 8].filter((n) => n > (after ?? 0)),
        id: (n) => n,
        async processBatch(batch, ctx) {
          await ctx.tx.query(
            `INSERT INTO ${schema}.effects (partition, id, writes) SELECT $1, unnest($2::int[]), 1
             ON CONFLICT (partition, id) DO UPDATE SET writes = effects.writes + 1`,
            [ctx.partition, batch],
          );
        },
      });
      // The first claim's reply and the first completion's reply never arrive.
      armed.drop = dropCommitsAfter(
        /INSERT INTO \S+\.checkpoints AS c/,
        /INSERT INTO \S+\.completions/,
      );
      const result = await runPartitions(processor, {
        store,
        partitions: ["a", "b", "c"],
        concurrency: 2,
        logger: false,
        sleep: noBackoff,
      });
      assert.deepEqual(
        proxy.faults.map((f) => f.kind),
        ["commit-reply", "commit-reply"],
        "both replies were dropped",
      );
      assert.equal(result.status, "completed");
      assert.deepEqual(
        result.partitions.map((p) => [p.partition, p.status]),
        [
          ["a", "completed"],
          ["b", "completed"],
          ["c", "completed"],
        ],
      );
      const leases = await direct.query(`SELECT partition FROM ${schema}.checkpoints`);
      assert.deepEqual(leases.rows, [], "no checkpoint or lease is left behind");
      const effects = await direct.query(
        `SELECT partition, count(*)::int AS ids, max(writes) AS most FROM ${schema}.effects GROUP BY partition ORDER BY partition`,
      );
      assert.deepEqual(
        effects.rows.map((r) => [r.partition, r.ids, r.most]),
        [
          ["a", 8, 1],
          ["b", 8, 1],
          ["c", 8, 1],
        ],
        "every entity's effect exactly once",
      );
      const again = await runPartitions(processor, {
        store,
        partitions: ["a", "b", "c"],
        logger: false,
      });
      assert.equal(again.backfill?.alreadyFinished, true, "the same backfill later is finished");
    });
  });
});
