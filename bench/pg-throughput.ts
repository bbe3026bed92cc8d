/**
 * Throughput of several worker processes on as many partitions against one worker on one,
 * on one PostgreSQL server. Each worker runs a processor whose batches write one row per
 * entity through `ctx.tx`; throughput counts from the first worker's start of work to the
 * last one's end (process start-up excluded), and the scaling ratio compares the two.
 *
 * Run: WAYMARK_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test node --import tsx bench/pg-throughput.ts
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { defineProcessor, type PgTx, PostgresStore, run } from "../dist/index.js";

const ENTITIES = Number(process.env.BENCH_ENTITIES ?? 20000);
const BATCH_SIZE = 50;

/** One worker: runs the partition to completion and prints when its work started and ended. */
async function worker(url: string, schema: string, partition: string): Promise<void> {
  const store = await PostgresStore.open({ connectionString: url, schema, poolSize: 2 });
  const processor = defineProcessor<number, undefined, PgTx>({
    name: "throughput",
    batchSize: BATCH_SIZE,
    entities: ({ after }) => {
      const first = after === null ? 1 : (after as number) + 1;
      return Array.from({ length: ENTITIES - first + 1 }, (_, i) => first + i);
    },
    id: (n) => n,
    async processBatch(batch, ctx) {
      await ctx.tx.query(
        `INSERT INTO ${schema}.effects (partition, entity)
         SELECT $1, unnest($2::int[])`,
        [ctx.partition, batch],
      );
    },
  });
  const started = Date.now();
  const result = await run(processor, { store, partition, logger: false });
  const ended = Date.now();
  await store.close();
  process.stdout.write(`${JSON.stringify({ started, ended, status: result.status })}\n`);
}

/** Starts `count` worker processes on `count` partitions; resolves to entities per second. */
async function measure(url: string, schema: string, count: number): Promise<number> {
  const self = fileURLToPath(import.meta.url);
  const outputs = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", self, "--worker", schema, `w${count}-${i}`],
        {
          stdio: ["ignore", "pipe", "inherit"],
          env: { ...process.env, WAYMARK_BENCH_PG_URL: url },
        },
      );
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk;
      });
      return new Promise<{ started: number; ended: number; status: string }>((resolve, reject) => {
        child.on("close", (code) =>
          code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exited ${code}`)),
        );
      });
    }),
  );
  if (outputs.some((o) => o.status !== "completed")) throw new Error("a worker did not complete");
  const seconds =
    (Math.max(...outputs.map((o) => o.ended)) - Math.min(...outputs.map((o) => o.started))) / 1000;
  return (count * ENTITIES) / seconds;
}

/** Runs 1 worker, then `workers` workers, and prints entities per second and the ratio. */
export async function benchPgThroughput(url: string, workers = 4): Promise<void> {
  const schema = `bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await (await PostgresStore.open({ pool: admin, schema })).close();
    await admin.query(`CREATE TABLE ${schema}.effects (partition TEXT, entity INT)`);
    const one = await measure(url, schema, 1);
    const many = await measure(url, schema, workers);
    console.log(`${"workers".padEnd(10)} ${"entities/s".padStart(12)}`);
    console.log(`${"1".padEnd(10)} ${one.toFixed(0).padStart(12)}`);
    console.log(`${String(workers).padEnd(10)} ${many.toFixed(0).padStart(12)}`);
    console.log(`scaling ${workers} workers / 1 worker: ${(many / one).toFixed(2)}x`);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const url =
    process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
  if (!url) {
    console.error("Set WAYMARK_BENCH_PG_URL, e.g. postgres://postgres@127.0.0.1:5432/test");
    process.exit(2);
  }
  const [flag, schema, partition] = process.argv.slice(2);
  if (flag === "--worker") await worker(url, schema as string, partition as string);
  else await benchPgThroughput(url, Number(process.env.BENCH_WORKERS ?? 4));
}
