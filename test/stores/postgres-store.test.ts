// PostgresStore batches: ctx.tx transactions, fencing, exactly once, pooled clients.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import pg from "pg";
import { FencedError, StoreError } from "../../src/core/errors.js";
import type { BatchCommit, LeaseHandle } from "../../src/core/store/checkpoint-store.js";
import type { PgPool } from "../../src/stores/postgres/postgres-pool.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { NO_SERVER, openTestPool, PG_TEST_URL, type TestPool } from "./postgres-factory.js";

const key = { processor: "players", partition: "2024-01-15", shard: "" };
const T0 = 1_700_000_000_000;
const TTL = 30_000;

function write(overrides: Partial<BatchCommit> = {}): BatchCommit {
  return {
    kind: "batch",
    processorVersion: 1,
    cursor: 50,
    completed: 50,
    total: 450,
    state: null,
    stateCodec: "json",
    fingerprint: null,
    leaseTtlMs: TTL,
    now: T0 + 1000,
    ...overrides,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}, but it resolved`),
    (e: unknown) => e as Error & { code?: string },
  );
  assert.ok(error instanceof StoreError, `expected a StoreError, got ${error}`);
  assert.equal((error as StoreError).code, code, error.message);
  return error;
}

describe("PostgresStore: ctx.tx and exactly once", { skip: NO_SERVER, timeout: 60_000 }, () => {
  let test: TestPool;
  let store: PostgresStore;
  let effects: string;

  beforeEach(async () => {
    test = openTestPool();
    // These tests drive time through `now`.
    store = await PostgresStore.open({ pool: test.pool, schema: test.schema, clock: "runner" });
    effects = `${test.schema}.effects`;
    await test.pool.query(`CREATE TABLE ${effects} (key TEXT PRIMARY KEY)`);
  });
  afterEach(async () => {
    const leaked = test.leaked();
    await store.close();
    await test.dispose();
    assert.equal(leaked, 0, "every client went back to the pool");
  });

  async function acquire(owner: string, now = T0): Promise<LeaseHandle> {
    const result = await store.acquire({ ...key, owner, runId: owner, leaseTtlMs: TTL, now });
    if (!result.acquired) assert.fail(`${owner} should acquire`);
    return result.lease;
  }

  async function keys(): Promise<string[]> {
    const result = await test.pool.query<{ key: string }>(`SELECT key FROM ${effects} ORDER BY 1`);
    return result.rows.map((r) => r.key);
  }

  it("a fenced commit leaves none of the batch's writes", async () => {
    const old = await acquire("a");
    const batch = store.openBatch(old);
    const taker = await acquire("b", T0 + TTL + 1);
    for (const k of ["p1", "p2", "p3"]) {
      await batch.tx.query(`INSERT INTO ${effects} (key) VALUES ($1)`, [k]);
    }
    await assert.rejects(batch.commit(write()), FencedError);
    assert.deepEqual(await keys(), []);
    const checkpoint = await store.getCheckpoint(key);
    assert.equal(checkpoint?.cursor, null, "the checkpoint did not move");
    assert.equal(checkpoint?.fence, taker.fence);
  });

  it("writes made before and after a takeover are all dropped", { skip: NO_SERVER }, async () => {
    const old = await acquire("a");
    const batch = store.openBatch(old);
    await batch.tx.query(`INSERT INTO ${effects} (key) VALUES ('before')`);
    const taker = await acquire("b", T0 + TTL + 1);
    const next = store.openBatch(taker);
    await next.tx.query(`INSERT INTO ${effects} (key) VALUES ('taker')`);
    await next.commit(write({ cursor: 10, now: T0 + TTL + 2 }));
    await batch.tx.query(`INSERT INTO ${effects} (key) VALUES ('after')`);
    await assert.rejects(batch.commit(write()), FencedError);
    assert.deepEqual(await keys(), ["taker"]);
    assert.equal((await store.getCheckpoint(key))?.cursor, 10);
  });

  it("commits the batch's writes and the checkpoint together", async () => {
    const lease = await acquire("a");
    const batch = store.openBatch(lease);
    await batch.tx.query(`INSERT INTO ${effects} (key) VALUES ($1), ($2)`, ["p1", "p2"]);
    await batch.commit(write({ cursor: "p2", completed: 2 }));
    assert.deepEqual(await keys(), ["p1", "p2"]);
    assert.equal((await store.getCheckpoint(key))?.cursor, "p2");
  });

  it("a failed statement rolls back cleanly and the client returns to the pool", async () => {
    const lease = await acquire("a");
    const failed = store.openBatch(lease);
    await failed.tx.query(`INSERT INTO ${effects} (key) VALUES ('before')`);
    await assert.rejects(failed.tx.query(`INSERT INTO ${effects} (key) VALUES (NULL)`), {
      code: "23502",
    });
    await failed.rollback();
    assert.equal(test.leaked(), 0);
    const next = store.openBatch(lease);
    await next.tx.query(`INSERT INTO ${effects} (key) VALUES ('after')`);
    await next.commit(write());
    assert.deepEqual(await keys(), ["after"]);
  });

  it("a commit after a swallowed statement error lands nothing", async () => {
    const lease = await acquire("a");
    const batch = store.openBatch(lease);
    await batch.tx.query(`INSERT INTO ${effects} (key) VALUES ('p1')`);
    await batch.tx.query("SELECT no_such_column").catch(() => {});
    await assert.rejects(batch.commit(write()), { code: "25P02" });
    assert.equal(test.leaked(), 0);
    assert.deepEqual(await keys(), []);
    assert.equal((await store.getCheckpoint(key))?.cursor, null);
  });

  it("refuses ctx.tx after its batch ended", async () => {
    const lease = await acquire("a");
    const batch = store.openBatch(lease);
    await batch.commit(write());
    await assert.rejects(batch.tx.query("SELECT 1"), /after its batch ended/);
  });

  it("an untouched ctx.tx costs one statement per commit and no checkout", async () => {
    const lease = await acquire("a");
    const counted = countingPool(test.pool);
    const counting = await PostgresStore.open({ pool: counted.pool, schema: test.schema });
    counted.queries = 0; // opening read the schema version
    await counting.openBatch(lease).commit(write());
    assert.deepEqual(
      { queries: counted.queries, connects: counted.connects },
      {
        queries: 1,
        connects: 0,
      },
    );
    await counting.close();
  });

  it("drops a client whose connection died mid-batch and carries on", {
    skip: NO_SERVER,
  }, async () => {
    const lease = await acquire("a");
    const batch = store.openBatch(lease);
    const { rows } = await batch.tx.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    await test.pool.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
    await rejectsWith(batch.commit(write()), "STORE_UNAVAILABLE");
    assert.equal(test.leaked(), 0);
    const next = store.openBatch(lease);
    await next.tx.query(`INSERT INTO ${effects} (key) VALUES ('after')`);
    await next.commit(write({ cursor: 60 }));
    assert.equal((await store.getCheckpoint(key))?.cursor, 60);
  });

  it("a batch idle past idleInTransactionTimeoutMs stops blocking others", {
    skip: NO_SERVER,
  }, async () => {
    const guarded = await PostgresStore.open({
      pool: test.pool,
      schema: test.schema,
      idleInTransactionTimeoutMs: 300,
    });
    const lease = await acquire("a");
    const stalled = guarded.openBatch(lease);
    await stalled.tx.query(`INSERT INTO ${effects} (key) VALUES ('p1')`);
    // Waits on the stalled transaction's row lock until the server ends that transaction.
    await test.pool.query(`INSERT INTO ${effects} (key) VALUES ('p1')`);
    await rejectsWith(stalled.commit(write()), "STORE_UNAVAILABLE");
    assert.equal(test.leaked(), 0);
    assert.deepEqual(await keys(), ["p1"]);
    assert.equal((await store.getCheckpoint(key))?.cursor, null);
    await guarded.close();
  });

  it("two stores on one connection keep their prepared statements apart", {
    skip: NO_SERVER,
  }, async () => {
    const shared = new pg.Pool({ connectionString: PG_TEST_URL, max: 1 });
    const other = openTestPool();
    try {
      const stores = [
        await PostgresStore.open({ pool: shared, schema: test.schema }),
        await PostgresStore.open({ pool: shared, schema: other.schema }),
      ];
      for (const [i, each] of stores.entries()) {
        const taken = await each.acquire({
          ...key,
          owner: `s${i}`,
          runId: "r",
          leaseTtlMs: TTL,
          now: T0,
        });
        if (!taken.acquired) assert.fail("each schema has its own checkpoint");
        await each.openBatch(taken.lease).commit(write({ cursor: i + 1 }));
        await each.openBatch(taken.lease).commit(write({ cursor: i + 10 }));
      }
      assert.equal((await stores[0]?.getCheckpoint(key))?.cursor, 10);
      assert.equal((await stores[1]?.getCheckpoint(key))?.cursor, 11);
    } finally {
      await shared.end();
      await other.dispose();
    }
  });

  it("close() leaves a pool it was given open", async () => {
    await store.close();
    await store.close();
    assert.equal((await test.pool.query("SELECT 1 AS one")).rows[0]?.one, 1);
  });
});

/** A real pool that counts what goes through it (no mock: every call reaches the server). */
function countingPool(pool: PgPool) {
  const counted = {
    queries: 0,
    connects: 0,
    pool: {
      query: (text: string, values?: unknown[]) => {
        counted.queries++;
        return pool.query(text, values);
      },
      connect: () => {
        counted.connects++;
        return pool.connect();
      },
      end: async () => {},
    } as PgPool,
  };
  return counted;
}
