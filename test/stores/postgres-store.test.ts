import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { FencedError, StoreError } from "../../src/core/errors.js";
import { POSTGRES_MIGRATIONS } from "../../src/stores/postgres/postgres-migrations.js";
import type { PgPool } from "../../src/stores/postgres/postgres-pool.js";
import { openPostgresStore, PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import type { CheckpointWrite, LeaseHandle } from "../../src/stores/store.js";
import { NO_SERVER, openTestPool, PG_TEST_URL, type TestPool } from "./postgres-factory.js";

const key = { processor: "players", partition: "2024-01-15" };
const T0 = 1_700_000_000_000;
const TTL = 30_000;

function write(overrides: Partial<CheckpointWrite> = {}): CheckpointWrite {
  return {
    processorVersion: 1,
    cursor: 50,
    completed: 50,
    total: 450,
    state: null,
    fingerprint: null,
    leaseTtlMs: TTL,
    now: T0 + 1000,
    ...overrides,
  };
}

/** The server URL with another database, user or schema; the tests that call it need one. */
function serverUrl(change: (url: URL) => void): string {
  const url = new URL(PG_TEST_URL as string);
  change(url);
  return url.toString();
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

describe("PostgresStore: opening and errors", { timeout: 60_000 }, () => {
  it("rejects a malformed URL without echoing its password", async () => {
    for (const url of ["postgres://app:s3cret@db:notaport/x", "mysql://app:s3cret@db/x"]) {
      const error = await rejectsWith(openPostgresStore(url), "INVALID_STORE_URL");
      assert.doesNotMatch(error.message, /s3cret/);
      assert.match(error.message, /postgres:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/);
    }
  });

  it("reports an unreachable server as STORE_UNAVAILABLE, naming it without the password", async () => {
    const error = await rejectsWith(
      openPostgresStore("postgres://app:s3cret@127.0.0.1:1/x"),
      "STORE_UNAVAILABLE",
    );
    assert.match(error.message, /127\.0\.0\.1:1/);
    assert.match(error.message, /server is running/);
    assert.doesNotMatch(error.message, /s3cret/);
  });

  it("rejects a bad schema name or timeout, naming the option", async () => {
    await assert.rejects(openPostgresStore("postgres://127.0.0.1:1/x", { schema: 'a"; DROP' }), {
      code: "INVALID_OPTION",
    });
    await assert.rejects(
      openPostgresStore("postgresql://127.0.0.1:1/x", { idleInTransactionTimeoutMs: 0 }),
      { code: "INVALID_OPTION", message: /idleInTransactionTimeoutMs/ },
    );
  });

  it("says to check the database name when it does not exist", { skip: NO_SERVER }, async () => {
    const url = serverUrl((u) => {
      u.pathname = "/waymark_no_such_database";
    });
    const error = await rejectsWith(openPostgresStore(url), "STORE_UNAVAILABLE");
    assert.match(error.message, /waymark_no_such_database/);
    assert.match(error.message, /database name/);
  });

  it("says to check the credentials when the login is refused", { skip: NO_SERVER }, async () => {
    const url = serverUrl((u) => {
      u.username = "waymark_no_such_role";
      u.password = "s3cret";
    });
    const error = await rejectsWith(openPostgresStore(url), "STORE_UNAVAILABLE");
    assert.match(error.message, /user name and password/);
    assert.doesNotMatch(error.message, /s3cret/);
  });

  it("takes the schema from ?schema= in the URL", { skip: NO_SERVER }, async () => {
    const test = openTestPool();
    const store = await openPostgresStore(
      serverUrl((u) => u.searchParams.set("schema", test.schema)),
    );
    try {
      assert.equal(store.schema, test.schema);
      const tables = await test.pool.query(
        "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'checkpoints'",
        [test.schema],
      );
      assert.equal(tables.rows.length, 1);
    } finally {
      await store.close();
      await test.dispose();
    }
  });
});

describe("PostgresStore: migrations", { timeout: 60_000 }, () => {
  let test: TestPool;
  beforeEach(() => {
    test = openTestPool();
  });
  afterEach(async () => {
    const leaked = test.leaked();
    await test.dispose();
    assert.equal(leaked, 0, "every client went back to the pool");
  });

  it("refuses a schema newer than this code, saying what to do", async () => {
    const first = await PostgresStore.open({ pool: test.pool, schema: test.schema });
    await first.close();
    await test.pool.query(`INSERT INTO ${test.schema}.migrations (version) VALUES (99)`);
    const error = await rejectsWith(
      PostgresStore.open({ pool: test.pool, schema: test.schema }),
      "STORE_INCOMPATIBLE",
    );
    assert.match(error.message, /version 99/);
    assert.match(error.message, /Upgrade waymark/);
  });

  it("migrates once when twenty workers open a fresh schema at once", {
    skip: NO_SERVER,
  }, async () => {
    const url = PG_TEST_URL as string;
    const opened = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        PostgresStore.open({ connectionString: url, schema: test.schema, poolSize: 1 }),
      ),
    );
    const failures = opened.filter((o) => o.status === "rejected");
    assert.deepEqual(failures, [], "no worker failed");
    for (const o of opened) if (o.status === "fulfilled") await o.value.close();
    const applied = await test.pool.query<{ version: number }>(
      `SELECT version FROM ${test.schema}.migrations ORDER BY version`,
    );
    assert.deepEqual(
      applied.rows.map((r) => r.version),
      POSTGRES_MIGRATIONS.map((_, i) => i + 1),
    );
  });
});

describe("PostgresStore: ctx.tx and exactly once", { timeout: 60_000 }, () => {
  let test: TestPool;
  let store: PostgresStore;
  let effects: string;

  beforeEach(async () => {
    test = openTestPool();
    store = await PostgresStore.open({ pool: test.pool, schema: test.schema });
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
    // PGlite has one connection, held by an open ctx.tx: take over before writing.
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
