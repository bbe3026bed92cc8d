// Which database errors are permanent, judged on errors the real drivers throw: better-sqlite3
// on a file, node-postgres on the test server. A retry cannot fix a permanent one.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { permanentError } from "../../../src/core/policies/permanent.js";
import { defineProcessor, type PgTx, PostgresStore, run } from "../../../src/index.js";
import { NO_SERVER, openTestPool, type TestPool } from "../../stores/postgres-factory.js";
import { captureLogger } from "../../support/logger.js";

/** The error `action` throws (it must throw). */
async function thrown(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error");
}

describe("permanent database errors on SQLite (better-sqlite3)", () => {
  let dir: string;
  let db: Database.Database;
  let other: Database.Database;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-permanent-"));
    db = new Database(join(dir, "data.db"));
    other = new Database(join(dir, "data.db"), { timeout: 0 });
    db.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
        parent INTEGER REFERENCES parent (id), n INTEGER CHECK (n >= 0));
      INSERT INTO t (id, name) VALUES (1, 'a');
      PRAGMA foreign_keys = ON;`);
  });
  after(() => {
    other.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("names constraint, syntax and type errors as permanent", async () => {
    const cases: Array<[string, string]> = [
      ["INSERT INTO t (id, name) VALUES (2, 'a')", "SQLITE_CONSTRAINT_UNIQUE"],
      ["INSERT INTO t (id, name) VALUES (1, 'b')", "SQLITE_CONSTRAINT_PRIMARYKEY"],
      ["INSERT INTO t (id, name) VALUES (3, NULL)", "SQLITE_CONSTRAINT_NOTNULL"],
      ["INSERT INTO t (id, name, n) VALUES (4, 'c', -1)", "SQLITE_CONSTRAINT_CHECK"],
      ["INSERT INTO t (id, name, parent) VALUES (5, 'd', 99)", "SQLITE_CONSTRAINT_FOREIGNKEY"],
      ["INSERT INTO t (id, name) VALUES ('x', 'e')", "SQLITE_MISMATCH"],
      ["INSERT INTO nowhere VALUES (1)", "SQLITE_ERROR"],
      ["INSRT INTO t VALUES (1)", "SQLITE_ERROR"],
    ];
    for (const [sql, code] of cases) {
      const error = await thrown(() => db.prepare(sql).run());
      assert.equal((error as { code?: string }).code, code, sql);
      assert.equal(permanentError(error), code, sql);
    }
  });

  it("keeps a locked file transient, and finds a code among the causes", async () => {
    db.exec("BEGIN IMMEDIATE");
    try {
      const busy = await thrown(() => other.prepare("INSERT INTO parent VALUES (1)").run());
      assert.equal((busy as { code?: string }).code, "SQLITE_BUSY");
      assert.equal(permanentError(busy), null);
    } finally {
      db.exec("ROLLBACK");
    }
    const unique = await thrown(() => db.prepare("INSERT INTO t (id, name) VALUES (1, 'a')").run());
    const wrapped = new Error("saving order 7 failed", { cause: unique });
    assert.equal(permanentError(wrapped), "SQLITE_CONSTRAINT_PRIMARYKEY");
    assert.equal(permanentError(new Error("503 Service Unavailable")), null);
    assert.equal(permanentError(Object.assign(new Error("socket"), { code: "EPIPE" })), null);
  });
});

describe("permanent database errors on PostgreSQL (node-postgres)", { skip: NO_SERVER }, () => {
  let test: TestPool;
  before(async () => {
    test = openTestPool();
    await test.pool.query(`CREATE SCHEMA ${test.schema}`);
    await test.pool.query(`CREATE TABLE ${test.schema}.t (id INT PRIMARY KEY, n SMALLINT)`);
    await test.pool.query(`INSERT INTO ${test.schema}.t VALUES (1, 1)`);
  });
  after(() => test.dispose());

  it("names SQL, integrity and data errors by SQLSTATE, and keeps a timeout transient", async () => {
    const t = `${test.schema}.t`;
    const cases: Array<[string, string | null]> = [
      [`INSERT INTO ${t} VALUES (1, 1)`, "23505 unique_violation"],
      [`INSERT INTO ${t} VALUES (NULL, 1)`, "23502 not_null_violation"],
      [`INSERT INTO ${t} VALUES (2, 100000)`, "22003 numeric_value_out_of_range"],
      [`SELECT 'x'::int FROM ${t}`, "22P02 invalid_text_representation"],
      [`SELEC 1`, "42601 syntax_error"],
      [`SELECT * FROM ${test.schema}.nowhere`, "42P01 undefined_table"],
      [`SELECT 1 / 0`, "22012 division_by_zero"],
    ];
    const client = await test.pool.connect();
    try {
      for (const [sql, reason] of cases) {
        const error = await thrown(() => client.query(sql));
        assert.equal(permanentError(error), reason, `${sql}: ${(error as Error).message}`);
      }
      // statement_timeout cancels the sleep after a millisecond: 57014 query_canceled.
      await client.query("SET statement_timeout = 1");
      const canceled = await thrown(() => client.query("SELECT pg_sleep(10)"));
      await client.query("SET statement_timeout = 0");
      assert.equal((canceled as { code?: string }).code, "57014");
      assert.equal(permanentError(canceled), null);
      // A statement after a failed one in the same transaction: 25P02, however it was caught.
      await client.query("BEGIN");
      await thrown(() => client.query(`INSERT INTO ${t} VALUES (1, 1)`));
      const aborted = await thrown(() => client.query("SELECT 1"));
      await client.query("ROLLBACK");
      assert.match(permanentError(aborted) ?? "", /^25P02 in_failed_sql_transaction \(an earlier/);
    } finally {
      client.release();
    }
  });

  it("keeps a lock that is not available transient (55P03)", async () => {
    const holder = await test.pool.connect();
    const waiter = await test.pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query(`SELECT * FROM ${test.schema}.t WHERE id = 1 FOR UPDATE`);
      const locked = await thrown(() =>
        waiter.query(`SELECT * FROM ${test.schema}.t WHERE id = 1 FOR UPDATE NOWAIT`),
      );
      assert.equal((locked as { code?: string }).code, "55P03");
      assert.equal(permanentError(locked), null);
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
      waiter.release();
    }
  });

  it("fails a batch whose caught error left the transaction aborted at once, naming 25P02", async () => {
    const store = await PostgresStore.open({ pool: test.pool, schema: test.schema });
    const { logger, lines } = captureLogger();
    let calls = 0;
    try {
      const result = await run(
        defineProcessor<number, undefined, PgTx>({
          name: "swallowed",
          entities: () => [1, 2, 3],
          id: (n) => n,
          async processBatch(batch, ctx) {
            calls++;
            for (const n of batch) {
              // The unique violation is caught and ignored: the transaction is aborted anyway.
              await ctx.tx
                .query(`INSERT INTO ${test.schema}.t VALUES ($1, 1)`, [n])
                .catch(() => {});
            }
          },
        }),
        { store, logger, sleep: () => assert.fail("a permanent error is not waited for") },
      );
      assert.equal(result.status, "failed");
      assert.equal(calls, 1, "not retried");
      assert.equal((result.error as { code?: string }).code, "25P02");
      assert.ok(
        lines.some((l) =>
          /Not retried: 25P02 in_failed_sql_transaction \(an earlier statement of the transaction failed and its error was caught\) is permanent; `retryable` overrides\./.test(
            l,
          ),
        ),
        lines.join("\n"),
      );
    } finally {
      await store.close();
    }
  });
});
