import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { defineProcessor, type PgTx, PostgresStore, type RunResult, run } from "../../src/index.js";
import { type FaultKind, type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { noBackoff } from "../support/time.js";
import { NO_SERVER, PG_TEST_URL } from "./postgres-factory.js";

const SEED = Number(process.env.WAYMARK_FAULT_SEED ?? 20);
const ENTITIES = 30;
const BATCH = 10;
const schema = `t_${randomBytes(6).toString("hex")}`;
const effects = `${schema}.effects`;

/** Reads around the proxy: what the store really holds. */
let direct: pg.Pool;

before(async () => {
  if (NO_SERVER) return;
  direct = new pg.Pool({ connectionString: PG_TEST_URL, max: 2 });
});
after(async () => {
  if (NO_SERVER) return;
  await direct.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await direct.end();
});

/** Appends one row per entity through ctx.tx, into a table without a unique key. */
const appending = defineProcessor<number, undefined, PgTx>({
  name: "appending",
  batchSize: BATCH,
  retry: { attempts: 2, initialDelayMs: 1, jitter: 0 },
  leaseTtlMs: 5000,
  entities: ({ after }) =>
    Array.from({ length: ENTITIES }, (_, i) => i + 1).filter(
      (n) => after === null || n > Number(after),
    ),
  id: (n) => n,
  async processBatch(batch, ctx) {
    for (const n of batch) {
      await ctx.tx.query(`INSERT INTO ${effects} (partition, id) VALUES ($1, $2)`, [
        ctx.partition,
        n,
      ]);
    }
  },
});

/** What the store holds for a partition, read directly. */
async function held(partition: string) {
  const checkpoint = await direct.query<{ completed: string }>(
    `SELECT completed FROM ${schema}.checkpoints WHERE processor = 'appending' AND partition = $1`,
    [partition],
  );
  const completion = await direct.query<{ run_id: string | null }>(
    `SELECT run_id FROM ${schema}.completions WHERE processor = 'appending' AND partition = $1`,
    [partition],
  );
  return {
    completed: checkpoint.rows[0] ? Number(checkpoint.rows[0].completed) : null,
    completedBy: completion.rows[0]?.run_id ?? null,
  };
}

async function history(runId: string) {
  const result = await direct.query<{ status: string; processed: string }>(
    `SELECT status, processed FROM ${schema}.runs WHERE run_id = $1`,
    [runId],
  );
  return result.rows[0] ?? null;
}

describe("PostgreSQL store behind a proxy that cuts connections", { skip: NO_SERVER }, () => {
  let proxy: FaultProxy;

  it("over 200 injected faults: every id exactly once, reported statuses match the store, history agrees", async () => {
    proxy = await startFaultProxy({
      target: PG_TEST_URL as string,
      seed: SEED,
      probability: {
        "before-begin": 0.08,
        "mid-transaction": 0.03,
        "commit-reply": 0.2,
        "completion-reply": 0.35,
        "statement-reply": 0.03,
        idle: 0.02,
      },
      isCompletion: (sql) => /INSERT INTO \S+\.completions/i.test(sql),
    });
    proxy.enabled = false;
    const store = await PostgresStore.open({ connectionString: proxy.url, schema, poolSize: 3 });
    await direct.query(`CREATE TABLE ${effects} (partition TEXT NOT NULL, id INT NOT NULL)`);
    proxy.enabled = true;
    const statuses = new Map<string, number>();
    const partitions: string[] = [];
    try {
      for (let p = 0; proxy.faults.length < 200; p++) {
        assert.ok(p < 200, "not enough faults injected");
        const partition = `p${p}`;
        partitions.push(partition);
        let result: RunResult;
        let attempts = 0;
        do {
          assert.ok(++attempts <= 50, `${partition}: no completion after 50 runs`);
          result = await run(appending, { store, partition, logger: false, sleep: noBackoff });
          const label = `${result.status}${result.error ? ` ${(result.error as { code?: string }).code}` : ""}`;
          statuses.set(label, (statuses.get(label) ?? 0) + 1);
          const where = `${partition} run ${attempts} (${label}): ${result.error?.message ?? ""}`;
          const now = await held(partition);
          if (result.status === "completed") {
            assert.equal(now.completed, null, `${where}: the checkpoint is cleared`);
            assert.equal(now.completedBy, result.runId, `${where}: the completion is this run's`);
          } else if (result.status !== "busy") {
            assert.notEqual(
              now.completedBy,
              result.runId,
              `${where}: completed, reported otherwise`,
            );
            assert.equal(now.completed ?? 0, result.completed, `${where}: reported progress`);
          }
          if (result.status !== "busy") {
            const row = await history(result.runId);
            assert.equal(row?.status, result.status, `${where}: history agrees`);
            assert.equal(Number(row?.processed), result.processed, `${where}: history's count`);
          }
        } while (result.status !== "completed");
      }
    } finally {
      proxy.enabled = false;
      await store.close();
      await proxy.close();
    }
    const rows = await direct.query<{ partition: string; id: number; n: string }>(
      `SELECT partition, id, count(*) AS n FROM ${effects} GROUP BY partition, id`,
    );
    const doubled = rows.rows.filter((r) => Number(r.n) !== 1);
    assert.deepEqual(doubled, [], "every id written exactly once");
    assert.equal(rows.rows.length, partitions.length * ENTITIES, "no id lost");
    const kinds = new Map<FaultKind, number>();
    for (const f of proxy.faults) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
    console.log(
      `proxy (seed ${SEED}): ${proxy.faults.length} faults over ${partitions.length} partitions: ` +
        `${[...kinds].map(([k, n]) => `${k} x${n}`).join(", ")}; runs: ` +
        `${[...statuses].map(([k, n]) => `${k} x${n}`).join(", ")}`,
    );
    for (const kind of [
      "before-begin",
      "mid-transaction",
      "commit-reply",
      "completion-reply",
      "idle",
    ]) {
      assert.ok(kinds.has(kind as FaultKind), `no ${kind} fault was injected`);
    }
  });
});
