/**
 * PostgreSQL checkpoint commit latency: `PostgresStore` against a raw `pg` UPSERT of the same
 * row, in the same process, on the same server, interleaved so that drift hits both alike.
 * Also a batch that writes one row through `ctx.tx` against raw BEGIN/INSERT/UPSERT/COMMIT,
 * and the closest peer on the same server: pg-boss 10 `complete()` of a fetched job.
 *
 * Run: WAYMARK_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test node --import tsx bench/pg-commit.ts
 * (falls back to WAYMARK_TEST_PG_URL, then DATABASE_URL). Uses and drops a schema of its own.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import pg from "pg";
import PgBoss from "pg-boss";
import { PostgresStore } from "../src/stores/postgres/postgres-store.js";
import type { LeaseHandle } from "../src/stores/store.js";

/** One measured operation: latencies in milliseconds. */
interface Series {
  name: string;
  samples: number[];
}

/** Runs the benchmark and prints a table with median, p99 and the ratio to raw pg. */
export async function benchPgCommit(url: string, iterations = 2000): Promise<void> {
  const schema = `bench_${randomBytes(4).toString("hex")}`;
  const store = await PostgresStore.open({ connectionString: url, schema, poolSize: 1 });
  const raw = new pg.Pool({ connectionString: url, max: 1 });
  const boss = new PgBoss({ connectionString: url, schema: `${schema}_boss`, max: 1 });
  boss.on("error", (error) => console.error(error));
  try {
    await boss.start();
    await boss.createQueue("bench");
    await raw.query(`CREATE TABLE ${schema}.effects (id INT PRIMARY KEY, n INT NOT NULL)`);
    const key = { processor: "bench", partition: "p" };
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
      ON CONFLICT (processor, partition) DO UPDATE SET processor_version = 1,
        cursor = EXCLUDED.cursor, completed = EXCLUDED.completed, total = EXCLUDED.total,
        state = EXCLUDED.state, fingerprint = NULL, lease_expires_at = EXCLUDED.lease_expires_at,
        updated_at = EXCLUDED.updated_at`;
    const effect = `INSERT INTO ${schema}.effects (id, n) VALUES ($1, 1)
      ON CONFLICT (id) DO UPDATE SET n = ${schema}.effects.n + 1`;
    let i = 0;
    const write = () => {
      i++;
      return {
        processorVersion: 1,
        cursor: i,
        completed: i,
        total: null,
        state: '{"sum":1}',
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
    report(
      [...cases.map(([series]) => series), bossSeries],
      [
        [0, 1],
        [2, 3],
        [0, 4],
      ],
    );
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 1000 }).catch(() => {});
    await raw.query(`DROP SCHEMA IF EXISTS ${schema}_boss CASCADE`).catch(() => {});
    await raw.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await raw.end();
    await store.close();
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Prints the table, then `ours / theirs` for each pair of row indexes. */
function report(series: Series[], pairs: Array<[number, number]>): void {
  const rows = series.map((s) => {
    const sorted = [...s.samples].sort((a, b) => a - b);
    return { name: s.name, median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
  });
  console.log(`${"operation".padEnd(40)} ${"median ms".padStart(10)} ${"p99 ms".padStart(10)}`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(40)} ${r.median.toFixed(3).padStart(10)} ${r.p99.toFixed(3).padStart(10)}`,
    );
  }
  for (const [a, b] of pairs) {
    const [ours, theirs] = [rows[a], rows[b]] as [(typeof rows)[0], (typeof rows)[0]];
    console.log(
      `ratio ${ours.name} / ${theirs.name}: median ${(ours.median / theirs.median).toFixed(2)}x, ` +
        `p99 ${(ours.p99 / theirs.p99).toFixed(2)}x`,
    );
  }
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
  await benchPgCommit(url, Number(process.env.BENCH_ITERATIONS ?? 2000));
}
