/**
 * Shared quotas: what the key delivers to an API when 16 runners in 4 processes want more
 * than its limit, what a quota far above a processor's pace costs each batch, and the round
 * trip of one token lease on PostgreSQL.
 *
 * Alone: `node --import tsx bench/quota.ts [--quick]` (the PostgreSQL row when
 * WAYMARK_BENCH_PG_URL, WAYMARK_TEST_PG_URL or DATABASE_URL names a server).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { defineProcessor, PostgresStore, run, SqliteStore } from "../dist/index.js";
import { alternate, type BenchRow, formatTable, median, ms, percentile } from "./stats.js";

const CHILD = fileURLToPath(new URL("./quota-child.ts", import.meta.url));
const PROCESSES = 4;
const LIMIT = 200;
const WINDOW_MS = 10_000;

/** A local API that records when each call arrived. */
async function recordingApi(): Promise<{
  url: string;
  arrivals: number[];
  close(): Promise<void>;
}> {
  const arrivals: number[] = [];
  const server = createServer((_, res) => {
    arrivals.push(performance.now());
    res.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The fewest and the most calls in any window of `windowMs` within `[from, to]`. */
function windowExtremes(arrivals: number[], from: number, to: number, windowMs: number) {
  const times = arrivals.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let fewest = Number.POSITIVE_INFINITY;
  let most = 0;
  for (let start = from; start + windowMs <= to; start += 50) {
    let n = 0;
    for (const t of times) if (t >= start && t < start + windowMs) n++;
    fewest = Math.min(fewest, n);
    most = Math.max(most, n);
  }
  return { fewest, most };
}

/**
 * 16 runners in 4 processes (4 runs each) call a local API under one quota of 200 a second,
 * each wanting far more, for `seconds`: the calls the API received over every window of 10 s
 * (of 1 s in the quick run), the most and the fewest, against the limit.
 */
export async function quotaDelivery(
  store: { label: string; url: string },
  quick: boolean,
): Promise<BenchRow[]> {
  const seconds = quick ? 3 : 30;
  const windowMs = quick ? 1000 : WINDOW_MS;
  const api = await recordingApi();
  try {
    // Time for the processes to start, then the measured span; runs stop at the deadline.
    const deadline = Date.now() + (quick ? 5_000 : 8_000) + seconds * 1000;
    const children = Array.from({ length: PROCESSES }, (_, p) => {
      const partitions = Array.from({ length: 4 }, (_, r) => `p${p}-${r}`).join(",");
      const child = spawn(process.execPath, [...process.execArgv, CHILD], {
        stdio: ["ignore", "inherit", "inherit"],
        env: {
          ...process.env,
          STORE: store.url,
          API: api.url,
          PARTITIONS: partitions,
          LIMIT: String(LIMIT),
          DEADLINE: String(deadline),
        },
      });
      return new Promise<number | null>((resolve) => child.once("exit", resolve));
    });
    const codes = await Promise.all(children);
    if (codes.some((code) => code !== 0)) throw new Error(`a quota process exited ${codes}`);
    // From the first call to one second before the runs stopped (their deadline margin).
    const from = Math.min(...api.arrivals);
    const to = Math.min(from + seconds * 1000, Math.max(...api.arrivals));
    const { fewest, most } = windowExtremes(api.arrivals, from, to, windowMs);
    const expected = (LIMIT * windowMs) / 1000;
    const span = `16 runners in ${PROCESSES} processes at ${LIMIT}/s, ${((to - from) / 1000).toFixed(0)} s`;
    const per = `${windowMs / 1000} s`;
    // The goals are for windows of 10 s: in the quick run's 1 s windows the burst weighs 5%.
    return [
      {
        name: `quota on ${store.label}: ${span}: most calls in any ${per} vs the limit`,
        value: `${most} calls`,
        baseline: `${expected} calls`,
        ratio: most / expected,
        goal: quick ? null : 1.02,
      },
      {
        name: `quota on ${store.label}: ${span}: the limit vs fewest calls in any ${per} (>= 0.95x)`,
        value: `${expected} calls`,
        baseline: `${fewest} calls`,
        ratio: expected / fewest,
        goal: quick ? null : 1.05,
      },
    ];
  } finally {
    await api.close();
  }
}

/** A processor of `batches` batches of 50 whose each entity costs about 0.1 ms of CPU. */
function paced(name: string, batches: number, withQuota: boolean) {
  return defineProcessor<number>({
    name,
    batchSize: 50,
    retry: false,
    // Far above its pace: a million a second.
    ...(withQuota ? { quota: { key: "far-above", limit: 1_000_000, per: "1s" } } : {}),
    entities: () => Array.from({ length: batches * 50 }, (_, i) => i + 1),
    id: (n) => n,
    processBatch(batch) {
      for (const _ of batch) {
        const until = performance.now() + 0.1;
        while (performance.now() < until) {
          // busy: the work of one entity
        }
      }
    },
  });
}

/**
 * A quota far above a processor's pace against no quota: time and CPU per batch, on SQLite
 * (its default store), alternated round by round.
 */
export async function quotaOverhead(quick: boolean): Promise<BenchRow[]> {
  const batches = quick ? 40 : 200;
  const rounds = quick ? 3 : 9;
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-quota-"));
  const store = new SqliteStore(join(dir, "waymark.db"));
  let round = 0;
  const cpu: { with: number[]; without: number[] } = { with: [], without: [] };
  const measure = (withQuota: boolean) => async () => {
    const processor = paced(`paced-${withQuota}-${round++}`, batches, withQuota);
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    const result = await run(processor, { store, logger: false });
    const used = process.cpuUsage(cpuStart);
    if (result.status !== "completed") throw new Error(`a paced run ended ${result.status}`);
    (withQuota ? cpu.with : cpu.without).push((used.user + used.system) / 1000 / batches);
    return (performance.now() - started) / batches;
  };
  try {
    const wall = await alternate(rounds, measure(true), measure(false));
    const cpuWith = median(cpu.with);
    const cpuWithout = median(cpu.without);
    const label = `quota far above the pace vs none: batches of 50 x 0.1 ms, sqlite, per batch`;
    return [
      {
        name: `${label} (median of ${rounds})`,
        value: ms(wall.a),
        baseline: ms(wall.b),
        ratio: wall.ratio,
        goal: 1.03,
      },
      {
        name: `${label}, CPU time`,
        value: ms(cpuWith),
        baseline: ms(cpuWithout),
        ratio: cpuWith / cpuWithout,
        goal: 1.03,
      },
    ];
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One token lease (`store.quotas.take`) on PostgreSQL, against a 2 ms budget and `SELECT 1`. */
export async function quotaLeaseRoundTrip(url: string, quick: boolean): Promise<BenchRow[]> {
  const samples = quick ? 100 : 1000;
  const schema = `bench_${randomBytes(4).toString("hex")}`;
  const store = await PostgresStore.open({ connectionString: url, schema, poolSize: 2 });
  const raw = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const spec = { key: "bench-api", limit: 200, perMs: 1000, burst: 20, adaptive: false };
    const lease = () =>
      store.quotas.take({ ...spec, tokens: 40, credit: 19, owner: "bench", now: Date.now() });
    const leases: number[] = [];
    const selects: number[] = [];
    for (let i = 0; i < 20; i++) {
      await lease();
      await raw.query("SELECT 1");
    }
    for (let i = 0; i < samples; i++) {
      let started = performance.now();
      await lease();
      leases.push(performance.now() - started);
      started = performance.now();
      await raw.query("SELECT 1");
      selects.push(performance.now() - started);
    }
    const p50 = percentile(leases, 50);
    return [
      {
        name: `quota lease round trip on postgres, p50 of ${samples}, vs a 2 ms budget`,
        value: ms(p50),
        baseline: ms(2),
        ratio: p50 / 2,
        goal: 1,
      },
      {
        name: `quota lease round trip on postgres, p50, vs SELECT 1 (p99 ${ms(percentile(leases, 99))})`,
        value: ms(p50),
        baseline: ms(percentile(selects, 50)),
        ratio: p50 / percentile(selects, 50),
        goal: null,
      },
    ];
  } finally {
    await raw.end();
    await store.pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await store.close();
  }
}

/**
 * The delivery rows on SQLite, and on PostgreSQL when `pgUrl` names a server: each store in a
 * place of its own, removed afterwards.
 */
export async function quotaDeliveries(pgUrl: string | undefined, quick: boolean) {
  const rows: BenchRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-quota-"));
  try {
    rows.push(
      ...(await quotaDelivery({ label: "sqlite", url: `sqlite:${join(dir, "w.db")}` }, quick)),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!pgUrl) return rows;
  const schema = `bench_${randomBytes(4).toString("hex")}`;
  const url = new URL(pgUrl);
  url.searchParams.set("schema", schema);
  try {
    rows.push(...(await quotaDelivery({ label: "postgres", url: url.href }, quick)));
  } finally {
    const drop = new pg.Pool({ connectionString: pgUrl, max: 1 });
    await drop.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await drop.end();
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const quick = process.argv.includes("--quick");
  const pgUrl =
    process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
  const rows: BenchRow[] = [];
  rows.push(...(await quotaDeliveries(pgUrl, quick)));
  rows.push(...(await quotaOverhead(quick)));
  if (pgUrl) rows.push(...(await quotaLeaseRoundTrip(pgUrl, quick)));
  console.log(formatTable(rows));
}
