import assert from "node:assert/strict";
import PgBoss from "pg-boss";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { openTestPool, PG_TEST_URL, type TestPool } from "../stores/postgres-factory.js";

/**
 * A PostgreSQL schema of its own for one pg-boss test: a store, an `effects` table that
 * processors write one row per entity into (with the writing process), and pg-boss instances
 * in `<schema>_boss`, all dropped by `close`.
 */
export class BossFixture {
  readonly test: TestPool;
  readonly store: PostgresStore;
  readonly effects: string;
  readonly #bosses: PgBoss[] = [];

  private constructor(test: TestPool, store: PostgresStore) {
    this.test = test;
    this.store = store;
    this.effects = `${test.schema}.effects`;
  }

  static async open(): Promise<BossFixture> {
    const test = openTestPool();
    const store = await PostgresStore.open({ pool: test.pool, schema: test.schema });
    await test.pool.query(
      `CREATE TABLE ${test.schema}.effects (partition TEXT, entity INT, writes INT NOT NULL,
         owner TEXT, PRIMARY KEY (partition, entity))`,
    );
    return new BossFixture(test, store);
  }

  /** A started pg-boss on the test's schema, without maintenance (tests never wait for it). */
  async boss(options: { expireInSeconds?: number } = {}): Promise<PgBoss> {
    const boss = new PgBoss({
      connectionString: PG_TEST_URL as string,
      schema: `${this.test.schema}_boss`,
      ...options,
      supervise: false,
      schedule: false,
    });
    boss.on("error", (error) => assert.fail(error));
    await boss.start();
    this.#bosses.push(boss);
    return boss;
  }

  get bosses(): readonly PgBoss[] {
    return this.#bosses;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#bosses.map((b) => b.stop({ graceful: false, wait: true, timeout: 1000 })),
    );
    await this.store.close();
    await this.test.pool.query(`DROP SCHEMA IF EXISTS ${this.test.schema}_boss CASCADE`);
    await this.test.dispose();
  }
}
