import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import PgBoss from "pg-boss";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { openTestPool, PG_TEST_URL, type TestPool } from "../stores/postgres-factory.js";
import type { BossWorkerConfig } from "./pg-boss-worker.js";
import { until } from "./time.js";

const BOSS_WORKER = fileURLToPath(new URL("./pg-boss-worker.ts", import.meta.url));

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
  readonly #workers: ChildProcess[] = [];

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

  /**
   * A worker process (test/support/pg-boss-worker.ts) on the test's schema; resolves once it
   * works the queue. `close` kills the ones still running.
   */
  async worker(config: Omit<BossWorkerConfig, "url" | "schema">): Promise<ChildProcess> {
    const full: BossWorkerConfig = {
      url: PG_TEST_URL as string,
      schema: this.test.schema,
      ...config,
    };
    const child = spawn(process.execPath, ["--import", "tsx", BOSS_WORKER], {
      env: { ...process.env, WORKER: JSON.stringify(full) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.#workers.push(child);
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    await until("the worker to be ready", () => out.includes("ready"), { timeoutMs: 20_000 });
    return child;
  }

  async close(): Promise<void> {
    const alive = this.#workers.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const child of alive) child.kill("SIGKILL");
    await until("the workers to exit", () =>
      alive.every((c) => c.exitCode !== null || c.signalCode !== null),
    );
    await Promise.all(
      this.#bosses.map((b) => b.stop({ graceful: false, wait: true, timeout: 1000 })),
    );
    await this.store.close();
    await this.test.pool.query(`DROP SCHEMA IF EXISTS ${this.test.schema}_boss CASCADE`);
    await this.test.dispose();
  }
}
