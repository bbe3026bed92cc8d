/**
 * The latency of one DBOS Transact step (its output checkpointed in DBOS's system database)
 * against a raw `pg` UPSERT of one row, on the same server, interleaved inside one workflow
 * so that drift hits both alike. DBOS lives here, in bench/peers, so installing waymark never
 * pulls it: `npm --prefix bench/peers install`.
 *
 * Alone: `node bench/peers/dbos-step.mjs [--quick]` with WAYMARK_BENCH_PG_URL set; prints
 * median and p99 of each and the ratio. `bench/pg-commit.ts` calls `measureDbosStep` when this
 * folder's packages are installed.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { DBOS } from "@dbos-inc/dbos-sdk";
import pg from "pg";

/**
 * Measures `iterations` DBOS steps and as many raw UPSERTs, after `warmup` of each.
 * @param {string} url the server
 * @param {{ iterations: number, warmup?: number }} options
 * @returns {Promise<{ step: number[], upsert: number[] }>} latencies in milliseconds
 */
export async function measureDbosStep(url, { iterations, warmup = 100 }) {
  const schema = `bench_dbos_${randomBytes(4).toString("hex")}`;
  const raw = new pg.Pool({ connectionString: url, max: 1 });
  await raw.query(`CREATE SCHEMA ${schema}`);
  await raw.query(`CREATE TABLE ${schema}.rows (id INT PRIMARY KEY, n INT NOT NULL)`);
  const upsert = `INSERT INTO ${schema}.rows (id, n) VALUES (1, $1)
    ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n`;
  /** @type {{ step: number[], upsert: number[] }} */
  const samples = { step: [], upsert: [] };
  const step = DBOS.registerStep(async (i) => i, { name: "benchStep" });
  const workflow = DBOS.registerWorkflow(
    async () => {
      for (let i = 0; i < warmup + iterations; i++) {
        const measured = i >= warmup;
        let started = performance.now();
        await step(i);
        if (measured) samples.step.push(performance.now() - started);
        started = performance.now();
        await raw.query(upsert, [i]);
        if (measured) samples.upsert.push(performance.now() - started);
      }
    },
    { name: "benchWorkflow" },
  );
  DBOS.setConfig({
    name: "waymark-bench",
    systemDatabaseUrl: url,
    systemDatabaseSchemaName: schema,
    systemDatabasePoolSize: 2,
    logLevel: "error",
  });
  try {
    await DBOS.launch();
    await workflow();
    return samples;
  } finally {
    await DBOS.shutdown().catch(() => {});
    await raw.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await raw.end();
  }
}

/** @param {number[]} samples @param {number} p */
function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const url =
    process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
  if (!url) {
    console.error("Set WAYMARK_BENCH_PG_URL, e.g. postgres://postgres@127.0.0.1:5432/test");
    process.exit(2);
  }
  const { step, upsert } = await measureDbosStep(url, {
    iterations: process.argv.includes("--quick") ? 200 : 2000,
  });
  const row = (/** @type {string} */ name, /** @type {number[]} */ s) =>
    `${name}: median ${percentile(s, 50).toFixed(3)} ms, p99 ${percentile(s, 99).toFixed(3)} ms`;
  console.log(row("DBOS step", step));
  console.log(row("raw pg UPSERT", upsert));
  console.log(
    `DBOS step / raw UPSERT: ${(percentile(step, 50) / percentile(upsert, 50)).toFixed(2)}x median, ` +
      `${(percentile(step, 99) / percentile(upsert, 99)).toFixed(2)}x p99`,
  );
}
