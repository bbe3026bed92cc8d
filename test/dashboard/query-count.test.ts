// A dashboard refresh reads the store in a fixed number of queries, however many checkpoints
// and quota keys there are: counted on PostgreSQL (every round trip through the pool) and on
// SQLite (every statement executed), with 500 checkpoints whose current runs are not
// `running`, and 40 quota keys.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import { collectDashboardData } from "../../src/dashboard/app.js";
import { loadStatus } from "../../src/reports/load.js";
import type { PgPool, PgQueryConfig } from "../../src/stores/postgres/postgres-pool.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { SqliteStatements } from "../../src/stores/sqlite/sqlite-statements.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import { NO_SERVER, openTestPool } from "../stores/postgres-factory.js";

const CHECKPOINTS = 500;
const NOW = 1_700_000_000_000;

/** Checkpoint and run rows: every checkpoint's current run failed (so it is not `running`). */
function rows(): { checkpoints: unknown[][]; runs: unknown[][] } {
  const checkpoints: unknown[][] = [];
  const runs: unknown[][] = [];
  for (let i = 0; i < CHECKPOINTS; i++) {
    const shard = i % 5 === 0 ? String(i % 2) : "";
    checkpoints.push(["p", `part-${i}`, shard, 1, String(i), 10, 100, `run-${i}`, NOW - 1000]);
    runs.push([`run-${i}`, "p", `part-${i}`, shard, "failed", NOW - 60_000, 0]);
  }
  return { checkpoints, runs };
}

const QUOTA_KEYS = 40;

async function assertRefreshCost(store: CheckpointStore, queries: () => number): Promise<void> {
  for (let i = 0; i < QUOTA_KEYS; i++) {
    const spec = { key: `api-${i}`, limit: 10, perMs: 1000, burst: 1, adaptive: false };
    await store.quotas?.take({ ...spec, tokens: 1, credit: 0, owner: "r", now: NOW });
  }
  const before = queries();
  const data = await collectDashboardData(store, NOW);
  const refresh = queries() - before;
  assert.equal(
    data.status.reduce((n, r) => n + (r.shards?.length ?? 1), 0),
    CHECKPOINTS,
    "every checkpoint is on the page",
  );
  assert.ok(
    data.status.every((r) => (r.shards ?? [r]).every((s) => s.ratePerSecond !== null)),
    "each checkpoint found its current run",
  );
  assert.equal(data.quotas.length, QUOTA_KEYS, "every quota key is on the page");
  // Exactly: checkpoints, current runs, completions of partitions in flight, backfills,
  // running runs, the last 50 runs, the month's runs, quotas.
  assert.equal(refresh, 8, `a dashboard refresh made ${refresh} queries`);
  const statusBefore = queries();
  await loadStatus(store, { now: NOW });
  assert.equal(
    queries() - statusBefore,
    4,
    "status: checkpoints, their current runs, their partitions' completions, backfills",
  );
}

describe(`a dashboard refresh with ${CHECKPOINTS} checkpoints`, { timeout: 120_000 }, () => {
  it("makes 8 queries on PostgreSQL", { skip: NO_SERVER }, async () => {
    const test = openTestPool();
    let count = 0;
    const counted = (query: PgPool["query"]) =>
      ((config: string | PgQueryConfig, values?: unknown[]) => {
        count++;
        return query(config, values);
      }) as PgPool["query"];
    const pool: PgPool = {
      query: counted(test.pool.query.bind(test.pool)),
      connect: async () => {
        const client = await test.pool.connect();
        return Object.assign(Object.create(client), { query: counted(client.query.bind(client)) });
      },
      end: () => test.pool.end(),
    };
    const store = await PostgresStore.open({ pool, schema: test.schema });
    try {
      const { checkpoints, runs } = rows();
      const s = test.schema;
      await test.pool.query(
        `INSERT INTO ${s}.checkpoints (processor, partition, shard, processor_version, cursor,
           completed, total, run_id, created_at, updated_at)
         SELECT c[1], c[2], c[3], c[4]::int, c[5], c[6]::bigint, c[7]::bigint, c[8], c[9]::bigint, c[9]::bigint
         FROM jsonb_array_elements($1::jsonb) j,
              LATERAL (SELECT array(SELECT jsonb_array_elements_text(j))) a(c)`,
        [JSON.stringify(checkpoints)],
      );
      await test.pool.query(
        `INSERT INTO ${s}.runs (run_id, processor, partition, shard, status, started_at, processed,
           batches, checkpoint_ms, attempt)
         SELECT c[1], c[2], c[3], c[4], c[5], c[6]::bigint, c[7]::bigint, 1, 0, 1
         FROM jsonb_array_elements($1::jsonb) j,
              LATERAL (SELECT array(SELECT jsonb_array_elements_text(j))) a(c)`,
        [JSON.stringify(runs)],
      );
      await assertRefreshCost(store, () => count);
    } finally {
      await store.close();
      await test.dispose();
    }
  });

  it("executes 8 statements on SQLite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "waymark-query-count-"));
    const store = new SqliteStore(join(dir, "waymark.db"));
    let count = 0;
    const get = SqliteStatements.prototype.get;
    SqliteStatements.prototype.get = function (this: SqliteStatements, sql: string) {
      count++;
      return get.call(this, sql);
    };
    try {
      const { checkpoints, runs } = rows();
      const insertCheckpoint = store.database.prepare(
        `INSERT INTO checkpoints (processor, partition, shard, processor_version, cursor, completed,
           total, run_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insertRun = store.database.prepare(
        `INSERT INTO runs (run_id, processor, partition, shard, status, started_at, processed,
           batches, checkpoint_ms, attempt) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, 1)`,
      );
      store.database.transaction(() => {
        for (const c of checkpoints) insertCheckpoint.run(...c, c[8]);
        for (const r of runs) insertRun.run(...r);
      })();
      await assertRefreshCost(store, () => count);
    } finally {
      SqliteStatements.prototype.get = get;
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
