// Opening a PostgresStore: URL and option errors, unreachable servers, migrations.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { StoreError } from "../../src/core/errors.js";
import { POSTGRES_MIGRATIONS } from "../../src/stores/postgres/postgres-migrations.js";
import { openPostgresStore, PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { NO_SERVER, openTestPool, PG_TEST_URL, type TestPool } from "./postgres-factory.js";

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

describe("PostgresStore: migrations", { skip: NO_SERVER, timeout: 60_000 }, () => {
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
