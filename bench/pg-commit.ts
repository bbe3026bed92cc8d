/**
 * PostgreSQL checkpoint commit latency: `PostgresStore` against a raw `pg` UPSERT of the same
 * row, in the same process, on the same server, interleaved so that drift hits both alike.
 * Also a batch that writes one row through `ctx.tx` against raw BEGIN/INSERT/UPSERT/COMMIT,
 * and the closest peer on the same server: pg-boss 10 `complete()` of a fetched job.
 *
 * With the peers installed (`npm --prefix bench/peers install`), also a DBOS Transact step,
 * measured by `bench/peers/dbos-step.mjs` against its own interleaved raw UPSERT.
 *
 * Part of `npm run bench` when WAYMARK_BENCH_PG_URL (or WAYMARK_TEST_PG_URL, DATABASE_URL) is
 * set; alone: `node --import tsx bench/pg-commit.ts [--quick]`. Uses and drops its own schema.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import PgBoss from "pg-boss";
import { type LeaseHandle, PostgresStore } from "../dist/index.js";
import { type BenchRow, formatTable, median, ms, percentile } from "./stats.js";

/** One measured operation: latencies in milliseconds. */
interface Series {
  name: string;
  samples: number[];
}

/**
 * Runs the benchmark and prints the detail (median and p99 of each operation) to stderr;
 * resolves to the rows of `npm run bench`'s table, each with the issue's goal.
 */
export async function pgCommit(url: string, quick: boolean): Promise<BenchRow[]> {
  const iterations = quick ? 200 : 2000;
  const schema = `bench_${randomBytes(4).toString("hex")}`;
  const store = await PostgresStore.open({ connectionString: url, schema, poolSize: 1 });
  const raw = new pg.Pool({ connectionString: url, max: 1 });
  const boss = new PgBoss({ connectionString: url, schema: `${schema}_boss`, max: 1 });
  boss.on("error", (error) => console.error(error));
  try {
    await boss.start();
    await boss.createQueue("bench");
    await raw.query(`CREATE TABLE ${schema}.effects (id INT PRIMARY KEY, n INT NOT NULL)`);
    const key = { processor: "bench", partition: "p", shard: "" };
    const acquired = await store.acquire({
      ...key,
      owner: "bench",
      runId: "bench",
      leaseTtlMs: 3_600_000,
      now: Date.now(),
    });
    if (!acquired.acquired) throw new Error("could not take the bench lease");
    const lease: LeaseHandle = acquired.lease;
    const upsert = `INSERT INTO ${schema}.checkpoints AS c (processor, partition, processor_version,
        cursor, completed, total, state, fingerprint, lease_expires_at, created_at, updated_at)
      VALUES ($1, $2, 1, $3, $4, NULL, $5, NULL, $6, $7, $7)
      ON CONFLICT (processor, partition, shard) DO UPDATE SET processor_version = 1,
        cursor = EXCLUDED.cursor, completed = EXCLUDED.completed, total = EXCLUDED.total,
        state = EXCLUDED.state, fingerprint = NULL, lease_expires_at = EXCLUDED.lease_expires_at,
        updated_at = EXCLUDED.updated_at`;
    const effect = `INSERT INTO ${schema}.effects (id, n) VALUES ($1, 1)
      ON CONFLICT (id) DO UPDATE SET n = ${schema}.effects.n + 1`;
    let i = 0;
    const write = () => {
      i++;
      return {
        kind: "batch" as const,
        processorVersion: 1,
        cursor: i,
        completed: i,
        total: null,
        state: '{"sum":1}',
        stateCodec: "json",
        fingerprint: null,
        leaseTtlMs: 3_600_000,
        now: Date.now(),
      };
    };
    const rawValues = () => {
      i++;
      const now = Date.now();
      return [
        key.processor,
        key.partition,
        JSON.stringify(i),
        i,
        '{"sum":1}',
        now + 3_600_000,
        now,
      ];
    };

    const cases: Array<[Series, () => Promise<unknown>]> = [
      [{ name: "PostgresStore commit", samples: [] }, () => store.openBatch(lease).commit(write())],
      [{ name: "raw pg UPSERT", samples: [] }, () => raw.query(upsert, rawValues())],
      [
        { name: "PostgresStore commit + 1 ctx.tx write", samples: [] },
        async () => {
          const scope = store.openBatch(lease);
          await scope.tx.query(effect, [i % 100]);
          await scope.commit(write());
        },
      ],
      [
        { name: "raw BEGIN/INSERT/UPSERT/COMMIT", samples: [] },
        async () => {
          const client = await raw.connect();
          try {
            await client.query("BEGIN");
            await client.query(effect, [i % 100]);
            await client.query(upsert, rawValues());
            await client.query("COMMIT");
          } finally {
            client.release();
          }
        },
      ],
    ];
    // pg-boss: the job is sent and fetched outside the timing; only complete() is measured.
    const bossSeries: Series = { name: "pg-boss complete()", samples: [] };
    const completeOne = async (series?: Series) => {
      await boss.send("bench", { i });
      const [job] = await boss.fetch("bench");
      if (!job) throw new Error("pg-boss fetched no job");
      const started = performance.now();
      await boss.complete("bench", job.id);
      series?.samples.push(performance.now() - started);
    };
    for (let n = 0; n < 200; n++) {
      for (const [, op] of cases) await op(); // warm-up
      await completeOne();
    }
    for (let n = 0; n < iterations; n++) {
      for (const [series, op] of cases) {
        const started = performance.now();
        await op();
        series.samples.push(performance.now() - started);
      }
      await completeOne(bossSeries);
    }
    const rows = report([...cases.map(([series]) => series), bossSeries]);
    return [
      ...rows,
      ...(await dbosRows(url, iterations, series((cases[0] as [Series, unknown])[0]))),
    ];
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 1000 }).catch(() => {});
    await raw.query(`DROP SCHEMA IF EXISTS ${schema}_boss CASCADE`).catch(() => {});
    await raw.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await raw.end();
    await store.close();
  }
}

const DBOS_STEP = new URL("./peers/dbos-step.mjs", import.meta.url);
const DBOS_INSTALLED = fileURLToPath(
  new URL("./peers/node_modules/@dbos-inc/dbos-sdk", import.meta.url),
);

/**
 * The DBOS step row, when bench/peers is installed: DBOS's own loop interleaves a raw UPSERT,
 * so each side is compared through its ratio to the UPSERT measured beside it.
 */
async function dbosRows(url: string, iterations: number, commit: Stat): Promise<BenchRow[]> {
  if (!existsSync(DBOS_INSTALLED)) {
    process.stderr.write("  DBOS step skipped: run `npm --prefix bench/peers install` to add it\n");
    return [];
  }
  const { measureDbosStep } = (await import(DBOS_STEP.href)) as {
    measureDbosStep(
      url: string,
      options: { iterations: number },
    ): Promise<{ step: number[]; upsert: number[] }>;
  };
  const { step, upsert } = await measureDbosStep(url, { iterations });
  const dbos = { name: "DBOS step", median: median(step), p99: percentile(step, 99) };
  const beside = { name: "raw pg UPSERT", median: median(upsert), p99: percentile(upsert, 99) };
  for (const r of [dbos, beside]) {
    process.stderr.write(`  ${r.name} (DBOS loop): median ${ms(r.median)}, p99 ${ms(r.p99)}\n`);
  }
  const ratio = (dbos.median / beside.median).toFixed(2);
  process.stderr.write(`  DBOS step / raw UPSERT beside it: ${ratio}x median\n`);
  return [
    // The goal: a waymark commit at least 2.5x faster than a DBOS step.
    {
      name: "postgres commit vs DBOS step, median",
      value: ms(commit.median),
      baseline: `${ms(dbos.median)} (DBOS step)`,
      ratio: commit.median / dbos.median,
      goal: 0.4,
    },
  ];
}

function series(s: Series): Stat {
  return { name: s.name, median: median(s.samples), p99: percentile(s.samples, 99) };
}

interface Stat {
  name: string;
  median: number;
  p99: number;
}

/** Prints each operation's median and p99, and turns the comparisons into table rows. */
function report(series: Series[]): BenchRow[] {
  const stats = series.map((s) => ({
    name: s.name,
    median: median(s.samples),
    p99: percentile(s.samples, 99),
  }));
  for (const r of stats) {
    process.stderr.write(`  ${r.name}: median ${ms(r.median)}, p99 ${ms(r.p99)}\n`);
  }
  const row = (name: string, ours: Stat, theirs: Stat, at: "median" | "p99", goal: number) => ({
    name,
    value: ms(ours[at]),
    baseline: `${ms(theirs[at])} (${theirs.name})`,
    ratio: ours[at] / theirs[at],
    goal,
  });
  const [commit, upsert, txCommit, txRaw, boss] = stats as [Stat, Stat, Stat, Stat, Stat];
  return [
    row("postgres commit, median", commit, upsert, "median", 1.2),
    row("postgres commit, p99", commit, upsert, "p99", 1.2),
    row("postgres commit + ctx.tx write, median", txCommit, txRaw, "median", 1.2),
    // The goal: at least 1.5x faster than pg-boss complete().
    row("postgres commit vs pg-boss, median", commit, boss, "median", 0.67),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const url =
    process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
  if (!url) {
    console.error(
      "Set WAYMARK_BENCH_PG_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test",
    );
    process.exit(2);
  }
  console.log(formatTable(await pgCommit(url, process.argv.includes("--quick"))));
}
