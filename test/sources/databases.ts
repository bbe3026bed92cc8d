import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe } from "node:test";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import type { QueryDatabase } from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import { NO_SERVER, openTestPool } from "../stores/postgres-factory.js";

/** A real database to read from, with a store beside it for the checkpoints. */
export interface SourceDatabase {
  readonly dialect: "sqlite" | "postgres";
  readonly db: QueryDatabase;
  readonly store: CheckpointStore;
  /** A table name in this test's own namespace (a schema on PostgreSQL). */
  table(name: string): string;
  exec(sql: string): Promise<void>;
  /** Inserts rows; `null` values are SQL NULL. */
  insert(table: string, columns: readonly string[], rows: readonly unknown[][]): Promise<void>;
  close(): Promise<void>;
}

/** Opens one database of each dialect per test: a SQLite file, and PostgreSQL when a server is configured. */
export const SOURCE_DATABASES: ReadonlyArray<{
  name: string;
  /** Why this database's tests are skipped here, or false when they run. */
  skip: string | false;
  open(): Promise<SourceDatabase>;
}> = [
  {
    name: "sqlite",
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "waymark-source-"));
      const store = new SqliteStore(join(dir, "waymark.db"));
      const db = store.database;
      return {
        dialect: "sqlite",
        db,
        store,
        table: (name) => name,
        exec: async (sql) => void db.exec(sql),
        async insert(table, columns, rows) {
          const statement = db.prepare(
            `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
          );
          db.transaction(() => {
            for (const row of rows) statement.run(...row);
          })();
        },
        async close() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: "postgres",
    skip: NO_SERVER,
    async open() {
      const test = openTestPool();
      const store = await PostgresStore.open({ pool: test.pool, schema: test.schema });
      return {
        dialect: "postgres",
        db: test.pool,
        store,
        table: (name) => `${test.schema}.${name}`,
        exec: async (sql) => void (await test.pool.query(sql)),
        async insert(table, columns, rows) {
          for (let i = 0; i < rows.length; i += 500) {
            const chunk = rows.slice(i, i + 500);
            const values: unknown[] = [];
            const tuples = chunk.map(
              (row) =>
                `(${row.map((v) => {
                  values.push(v);
                  return `$${values.length}`;
                })})`,
            );
            await test.pool.query(
              `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${tuples.join(", ")}`,
              values,
            );
          }
        },
        async close() {
          await store.close();
          await test.dispose();
        },
      };
    },
  },
];

/**
 * Declares `title`'s suite once per database, skipped with its reason where there is none;
 * `body` gets a function that returns the test's own database, opened before each test and
 * closed after it.
 */
export function describeEachDatabase(
  title: string,
  timeout: number,
  body: (database: () => SourceDatabase, name: string) => void,
): void {
  for (const { name, skip, open } of SOURCE_DATABASES) {
    describe(`${title} on ${name}`, { timeout, skip }, () => {
      let database: SourceDatabase | undefined;
      beforeEach(async () => {
        database = await open();
      });
      afterEach(async () => {
        await database?.close();
      });
      body(() => database as SourceDatabase, name);
    });
  }
}
