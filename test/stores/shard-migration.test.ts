// Migration 4 moves old `partition#id` shard keys into the shard column, on SQLite and
// PostgreSQL alike, and leaves every other partition name whole.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import { POSTGRES_MIGRATIONS } from "../../src/stores/postgres/postgres-migrations.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { SQLITE_MIGRATIONS } from "../../src/stores/sqlite/sqlite-migrations.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import { NO_SERVER, openTestPool } from "./postgres-factory.js";

/** Old keys and where migration 4 must put them. */
const KEYS: Array<[old: string, partition: string, shard: string]> = [
  ["2024-01-15#0", "2024-01-15", "0"],
  ["tenant#eu#shard-1.a", "tenant#eu", "shard-1.a"],
  ["ticket", "ticket", ""],
  ["#3", "#3", ""],
  ["x#y z", "x#y z", ""],
];

/** Rows of every keyed table under the old keys, in version-3 columns. */
function version3Rows(): string[] {
  return KEYS.flatMap(([key], i) => {
    const k = `'p', '${key}'`;
    return [
      `INSERT INTO checkpoints (processor, partition, cursor, completed, fence, attempt, created_at, updated_at)
       VALUES (${k}, '${i + 1}', ${i + 1}, 1, 1, 1, 1)`,
      `INSERT INTO completions (processor, partition, completed_at) VALUES (${k}, ${i + 1})`,
      `INSERT INTO failures (processor, partition, cursor, error, attempts, first_failed_at, last_failed_at, run_id)
       VALUES (${k}, '7', 'Error: x', 1, 1, 1, 'r${i}')`,
      `INSERT INTO runs (run_id, processor, partition, status, started_at, processed, batches, checkpoint_ms, attempt)
       VALUES ('r${i}', ${k}, 'failed', ${i + 1}, 0, 0, 0, 1)`,
      `INSERT INTO artifact_blobs (blob_id, processor, partition, hash, size, chunks, created_at)
       VALUES ('b${i}', ${k}, 'h', 0, 0, 1)`,
      `INSERT INTO artifacts (processor, partition, name, blob_id, hash, size, chunks, created_at)
       VALUES (${k}, 'w', 'b${i}', 'h', 0, 0, 1)`,
    ];
  });
}

async function assertMigrated(store: CheckpointStore): Promise<void> {
  for (const [old, partition, shard] of KEYS) {
    const key = { processor: "p", partition, shard };
    assert.ok(await store.getCheckpoint(key), `checkpoint of ${old}`);
    assert.notEqual(await store.lastCompletedAt(key), null, `completion of ${old}`);
    assert.equal((await store.listFailures(key)).length, 1, `ledger of ${old}`);
    assert.equal((await store.listRuns(key)).length, 1, `history of ${old}`);
    assert.deepEqual(
      (await store.artifacts?.listArtifacts(key))?.map((a) => a.blobId),
      [`b${KEYS.findIndex(([k]) => k === old)}`],
      `artifacts of ${old}`,
    );
  }
  assert.equal((await store.listCheckpoints()).length, KEYS.length);
}

const dir = mkdtempSync(join(tmpdir(), "waymark-shard-migration-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("migration 4: shards move to their own column", { timeout: 60_000 }, () => {
  it("on SQLite", async () => {
    const file = join(dir, "v3.db");
    const old = new Database(file);
    for (const migration of SQLITE_MIGRATIONS.slice(0, 3)) old.exec(migration);
    old.pragma("user_version = 3");
    for (const row of version3Rows()) old.exec(row);
    old.close();
    const store = new SqliteStore(file);
    try {
      await assertMigrated(store);
    } finally {
      await store.close();
    }
  });

  it("on PostgreSQL", { skip: NO_SERVER }, async () => {
    const test = openTestPool();
    const s = test.schema;
    await test.pool.query(`CREATE SCHEMA ${s}`);
    await test.pool.query(
      `CREATE TABLE ${s}.migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    for (const [i, migration] of POSTGRES_MIGRATIONS.slice(0, 3).entries()) {
      for (const statement of migration(s)) await test.pool.query(statement);
      await test.pool.query(`INSERT INTO ${s}.migrations (version) VALUES ($1)`, [i + 1]);
    }
    for (const row of version3Rows()) {
      await test.pool.query(row.replace(/INSERT INTO (\w+)/, `INSERT INTO ${s}.$1`));
    }
    const store = await PostgresStore.open({ pool: test.pool, schema: s });
    try {
      await assertMigrated(store);
    } finally {
      await store.close();
      await test.dispose();
    }
  });
});
