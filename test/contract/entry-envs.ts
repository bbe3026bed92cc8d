/** Fresh stores for the entry-point contract, and how the processors and the CLI reach them. */
import type PgBoss from "pg-boss";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import type { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import { PG_TEST_URL } from "../stores/postgres-factory.js";
import { sqlite } from "../stores/stores.js";
import { BossFixture } from "../support/pg-boss-fixture.js";

/** A fresh store of one kind: its URL for the CLI, its effects table, pg-boss beside it. */
export interface Env {
  readonly store: CheckpointStore;
  readonly url: string;
  readonly table: string;
  effects(): Promise<Map<string, number>>;
  boss?(): Promise<PgBoss>;
  /** PostgreSQL: the schema pg-boss keeps its jobs in. */
  readonly bossSchema?: string;
  sql?<R>(text: string, params: unknown[]): Promise<{ rows: R[] }>;
  cleanup(): Promise<void>;
}

const EFFECTS_DDL = "(key TEXT PRIMARY KEY CHECK (key NOT LIKE 'poison%'), writes INT NOT NULL)";

export async function sqliteEnv(): Promise<Env> {
  const opened = await sqlite.open();
  return {
    store: opened.store,
    url: `sqlite:${(opened.store as SqliteStore).path}`,
    table: "effects",
    effects: () => opened.effects(),
    cleanup: () => opened.cleanup(),
  };
}

export async function postgresEnv(): Promise<Env> {
  const fixture = await BossFixture.open();
  const { schema, pool } = fixture.test;
  const table = `${schema}.entry_effects`;
  await pool.query(`CREATE TABLE ${table} ${EFFECTS_DDL}`);
  const url = new URL(PG_TEST_URL as string);
  url.searchParams.set("schema", schema);
  return {
    store: fixture.store,
    url: url.toString(),
    table,
    async effects() {
      const rows = await pool.query<{ key: string; writes: number }>(
        `SELECT key, writes FROM ${table}`,
      );
      return new Map(rows.rows.map((r) => [r.key, r.writes]));
    },
    boss: () => fixture.boss(),
    bossSchema: `${schema}_boss`,
    sql: async <R>(text: string, params: unknown[]) => {
      const result = await pool.query(text, params);
      return { rows: result.rows as R[] };
    },
    cleanup: () => fixture.close(),
  };
}
