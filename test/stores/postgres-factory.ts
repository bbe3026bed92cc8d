import { randomBytes } from "node:crypto";
import pg from "pg";
import type { PgPool } from "../../src/stores/postgres/postgres-pool.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import type { PgTx } from "../../src/stores/postgres/postgres-tx.js";
import type { OpenedStore, StoreFactory } from "./stores.js";

/** The real server the PostgreSQL tests use, when one is configured. */
export const PG_TEST_URL = process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;

/** Why the tests that need a real server are skipped, or false when they run. */
export const NO_SERVER: string | false = PG_TEST_URL
  ? false
  : "no PostgreSQL server: set WAYMARK_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/test)";

/** A pool for one test, with a schema of its own, and how to check and throw both away. */
export interface TestPool {
  readonly pool: PgPool;
  readonly schema: string;
  /** Clients checked out and never released. */
  leaked(): number;
  /** Drops the schema and ends the pool. */
  dispose(): Promise<void>;
}

/**
 * A pool on the real server of `WAYMARK_TEST_PG_URL` (or `DATABASE_URL`), with a fresh schema
 * for one test. Tests that call it are skipped with {@link NO_SERVER} when none is configured.
 */
export function openTestPool(): TestPool {
  if (!PG_TEST_URL) throw new Error(`openTestPool: ${NO_SERVER} (skip the test with NO_SERVER)`);
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const pool = new pg.Pool({ connectionString: PG_TEST_URL, max: 4 });
  return {
    pool,
    schema,
    leaked: () => pool.totalCount - pool.idleCount,
    async dispose() {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    },
  };
}

/** The contract suite's PostgreSQL leg; effects live in the test's own schema. */
export const postgres: StoreFactory = {
  name: "postgres",
  async open(): Promise<OpenedStore> {
    const test = openTestPool();
    // The contract tests drive time through `now` (leases, expiry), as on the other stores;
    // the server's clock, the default, is tested on its own (postgres-clock.test.ts).
    const store = await PostgresStore.open({
      pool: test.pool,
      schema: test.schema,
      clock: "runner",
    });
    const effects = `${test.schema}.effects`;
    await test.pool.query(
      `CREATE TABLE ${effects} (key TEXT PRIMARY KEY CHECK (key NOT LIKE 'poison%'),
         writes INT NOT NULL)`,
    );
    return {
      store,
      async writeEffect(tx, key) {
        await (tx as PgTx).query(
          `INSERT INTO ${effects} (key, writes) VALUES ($1, 1)
           ON CONFLICT (key) DO UPDATE SET writes = ${effects}.writes + 1`,
          [key],
        );
      },
      async effects() {
        const result = await test.pool.query<{ key: string; writes: number }>(
          `SELECT key, writes FROM ${effects}`,
        );
        return new Map(result.rows.map((r) => [r.key, r.writes]));
      },
      async cleanup() {
        const leaked = test.leaked();
        await store.close();
        await test.dispose();
        if (leaked > 0)
          throw new Error(`${leaked} PostgreSQL client(s) never went back to the pool`);
      },
    };
  },
};
