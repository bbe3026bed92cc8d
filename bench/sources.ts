/**
 * The entity sources against what a user would write by hand: `fromQuery` against a
 * hand-written keyset loop on PostgreSQL, the time to the first batch of a resume deep in a
 * table (beside an OFFSET reader), `fromFile` against a bare `readline` loop, how much of a
 * file a resume reads, what a gzip resume costs, and peak memory against input size.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import {
  defineProcessor,
  fromFile,
  fromQuery,
  MemoryStore,
  run,
  type Source,
} from "../dist/index.js";
import { gzipFile, ndjsonCustomers, pgCustomers, sqliteCustomers } from "./sources-data.js";
import { alternate, type BenchRow, mib, ms } from "./stats.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const execFileAsync = promisify(execFile);
const PAGE = 1000;
const n = (count: number) => count.toLocaleString("en");

/** Sizes: the large input, the small one for memory, and the resume point (90%). */
function sizes(quick: boolean) {
  const large = quick ? 50_000 : 1_000_000;
  // Peak RSS is compared with a run long enough to grow what a long run grows (V8's young
  // generation, SQLite's page cache): `rssBase`; the live heap with a short one: `small`.
  return {
    large,
    small: 10_000,
    rssBase: quick ? 10_000 : 300_000,
    resumeAt: large * 0.9,
    rounds: quick ? 2 : 7,
  };
}

/** Runs `source` to its end with no-op batches of a page each; resolves to milliseconds. */
async function drain(source: Source<unknown>, expected: number): Promise<number> {
  const processor = defineProcessor({
    name: "bench-source",
    batchSize: PAGE,
    ...source,
    processBatch() {},
  });
  const started = performance.now();
  const result = await run(processor, { store: new MemoryStore(), logger: false });
  const elapsed = performance.now() - started;
  if (result.processed !== expected)
    throw new Error(`processed ${result.processed}: ${result.error}`);
  return elapsed;
}

/** Milliseconds until a fresh read of `source` after `after` has handed out one batch. */
async function firstBatch(source: Source<unknown>, after: number | null): Promise<number> {
  const started = performance.now();
  let count = 0;
  for await (const _ of (await source.entities({
    partition: "default",
    after,
  })) as AsyncIterable<unknown>) {
    if (++count === PAGE) break;
  }
  if (count !== PAGE) throw new Error(`the first batch had ${count} entities`);
  return performance.now() - started;
}

const rate = (count: number, elapsedMs: number) =>
  `${ms(elapsedMs)} (${Math.round(count / elapsedMs)}k/s)`;

/** fromQuery on PostgreSQL: throughput, resume time to first batch, OFFSET beside. */
export async function queryRows(url: string, quick: boolean): Promise<BenchRow[]> {
  const { large, resumeAt, rounds } = sizes(quick);
  const schema = `bench_src_${randomBytes(4).toString("hex")}`;
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    const table = await pgCustomers(pool, schema, large);
    const source = () => fromQuery({ db: pool, table, key: "id", pageSize: PAGE, logger: false });
    // What a processor's entities() is without a source: the keyset loop written by hand, one
    // page after another. Both runs go through the same runner with the same no-op batches,
    // so the ratio is what the source costs, or saves, against the pagination it replaces.
    const handWrittenEntities: Source<{ id: string }> = {
      async *entities({ after }) {
        let last = after ?? 0;
        for (;;) {
          const { rows } = await pool.query(
            `SELECT * FROM ${table} WHERE id > $1 ORDER BY id LIMIT ${PAGE}`,
            [last],
          );
          if (rows.length === 0) return;
          last = rows[rows.length - 1].id;
          yield* rows;
        }
      },
      id: (row) => Number(row.id),
    };
    const viaSource = await alternate(
      rounds,
      () => drain(source(), large),
      () => drain(handWrittenEntities as Source<unknown>, large),
    );
    // The same loop with no runner at all: what the runner and the source cost together.
    const bareLoop = async () => {
      const started = performance.now();
      let after = 0;
      let seen = 0;
      for (;;) {
        const { rows } = await pool.query(
          `SELECT * FROM ${table} WHERE id > $1 ORDER BY id LIMIT ${PAGE}`,
          [after],
        );
        if (rows.length === 0) break;
        seen += rows.length;
        after = rows[rows.length - 1].id;
      }
      if (seen !== large) throw new Error(`the keyset loop saw ${seen}`);
      return performance.now() - started;
    };
    const inRunner = quick
      ? { a: Number.NaN, b: Number.NaN, ratio: Number.NaN }
      : await alternate(rounds, () => drain(source(), large), bareLoop);
    const resumed = await alternate(
      rounds * 8,
      () => firstBatch(source(), resumeAt),
      () => firstBatch(source(), null),
    );
    const offset = async (skip: number) => {
      const started = performance.now();
      await pool.query(`SELECT * FROM ${table} ORDER BY id LIMIT ${PAGE} OFFSET ${skip}`);
      return performance.now() - started;
    };
    const offsetDeep = await alternate(
      rounds,
      () => offset(resumeAt),
      () => offset(0),
    );
    const rows: BenchRow[] = [
      {
        name: `fromQuery (postgres): ${n(large)} rows, page ${PAGE}, no-op batches vs the same run over a hand-written keyset entities() (>= 0.9x entities/s)`,
        value: rate(large, viaSource.a),
        baseline: rate(large, viaSource.b),
        ratio: viaSource.ratio,
        goal: 1.11,
      },
      {
        name: `fromQuery (postgres), for comparison: the same run vs a bare keyset loop, no runner, no batches`,
        value: rate(large, inRunner.a),
        baseline: rate(large, inRunner.b),
        ratio: inRunner.ratio,
        goal: null,
      },
      {
        name: `fromQuery (postgres): time to first batch, resume at row ${n(resumeAt)} vs row 0`,
        value: ms(resumed.a),
        baseline: ms(resumed.b),
        ratio: resumed.ratio,
        goal: 1.2,
      },
      {
        name: `OFFSET reader (postgres), for comparison: first page at row ${n(resumeAt)} vs row 0`,
        value: ms(offsetDeep.a),
        baseline: ms(offsetDeep.b),
        ratio: offsetDeep.ratio,
        goal: null,
      },
    ];
    // The quick run leaves out the comparison with the bare loop, the slowest row.
    return rows.filter((row) => !Number.isNaN(row.ratio));
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  }
}

/** fromFile: throughput against readline, bytes a resume reads, the gzip resume's cost. */
export async function fileRows(quick: boolean): Promise<BenchRow[]> {
  const { large, resumeAt, rounds } = sizes(quick);
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-file-"));
  try {
    const path = join(dir, "customers.ndjson");
    const resumeOffset = await ndjsonCustomers(path, large, resumeAt);
    const size = statSync(path).size;
    const bare = async () => {
      // What a user writes without a source: readline and JSON.parse, line by line.
      const started = performance.now();
      let seen = 0;
      const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
      for await (const line of lines) if (JSON.parse(line).id > 0) seen++;
      if (seen !== large) throw new Error(`readline saw ${seen}`);
      return performance.now() - started;
    };
    const viaSource = await alternate(rounds, () => drain(fromFile(path), large), bare);
    const rows: BenchRow[] = [
      {
        name: `fromFile (ndjson): ${n(large)} lines, no-op batches vs bare readline loop (>= 0.8x entities/s)`,
        value: rate(large, viaSource.a),
        baseline: rate(large, viaSource.b),
        ratio: viaSource.ratio,
        goal: 1.25,
      },
    ];
    const read = bytesRead();
    if (read) {
      const before = read();
      await firstBatch(fromFile(path), resumeOffset);
      const bytes = read() - before;
      rows.push({
        name: `fromFile (ndjson): bytes read before the first batch of a resume at line ${n(resumeAt)}, vs the file`,
        value: mib(bytes),
        baseline: mib(size),
        ratio: bytes / size,
        goal: 0.01,
      });
    }
    const gz = await gzipFile(path);
    const gzResumed = await alternate(
      rounds,
      () => firstBatch(fromFile(gz), resumeOffset),
      () => firstBatch(fromFile(gz), null),
    );
    rows.push({
      name: `fromFile (ndjson.gz), for comparison: time to first batch, resume at line ${n(resumeAt)} vs line 0 (no seek)`,
      value: ms(gzResumed.a),
      baseline: ms(gzResumed.b),
      ratio: gzResumed.ratio,
      goal: null,
    });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes this process has read so far (Linux `rchar`), or null where /proc is missing. */
function bytesRead(): (() => number) | null {
  try {
    const read = () => Number(/rchar: (\d+)/.exec(readFileSync("/proc/self/io", "utf8"))?.[1]);
    return Number.isFinite(read()) ? read : null;
  } catch {
    return null;
  }
}

/** Peak RSS of each source over the large input against the small one, each in its own process. */
export async function sourceMemoryRows(
  url: string | undefined,
  quick: boolean,
): Promise<BenchRow[]> {
  const { large, small, rssBase } = sizes(quick);
  const counts = [...new Set([large, small, rssBase])];
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-memory-"));
  const schema = `bench_mem_${randomBytes(4).toString("hex")}`;
  const pool = url ? new pg.Pool({ connectionString: url, max: 2 }) : null;
  try {
    const inputs: Array<{ label: string; args: (count: number) => string[] }> = [];
    const sqlitePath = join(dir, "customers.db");
    for (const count of counts) {
      if (!quick) sqliteCustomers(sqlitePath, count);
      await ndjsonCustomers(join(dir, `customers-${count}.ndjson`), count);
    }
    // The quick run (a test runs it) keeps to the two sources that need no database.
    if (pool && !quick) {
      await pool.query(`CREATE SCHEMA ${schema}`);
      for (const count of counts) await pgCustomers(pool, schema, count);
      inputs.push({
        label: "fromQuery (postgres)",
        args: (count) => ["query", url as string, `${schema}.customers_${count}`],
      });
    }
    if (!quick) {
      inputs.push({
        label: "fromQuery (sqlite)",
        args: (count) => ["query", sqlitePath, `customers_${count}`],
      });
    }
    inputs.push(
      {
        label: "fromFile (ndjson)",
        args: (count) => ["file", join(dir, `customers-${count}.ndjson`)],
      },
      { label: "fromRange", args: (count) => ["range", String(count)] },
    );
    const rows: BenchRow[] = [];
    for (const input of inputs) {
      // The two sizes run side by side: each process measures its own peak.
      const [big, little] = await Promise.all([large, rssBase].map((c) => peak(input.args(c))));
      rows.push({
        name: `peak RSS: ${input.label}, ${n(large)} vs ${n(rssBase)} entities`,
        value: mib((big as Peak).peakRss),
        baseline: mib((little as Peak).peakRss),
        ratio: (big as Peak).peakRss / (little as Peak).peakRss,
        // Shown: the GC's slack sets it; the live heap rows below are the goal.
        goal: null,
      });
    }
    if (!quick) {
      // What each source holds on to, without the GC's slack and SQLite's page cache.
      for (const input of inputs) {
        const [big, little] = await Promise.all(
          [large, small].map((c) => peak(input.args(c), true)),
        );
        rows.push({
          name: `peak live heap after GC: ${input.label}, ${n(large)} vs ${n(small)} entities`,
          value: mib((big as Peak).peakHeap),
          baseline: mib((little as Peak).peakHeap),
          ratio: (big as Peak).peakHeap / (little as Peak).peakHeap,
          goal: 1.2,
        });
      }
    }
    return rows;
  } finally {
    if (pool) {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Peak {
  peakRss: number;
  peakHeap: number;
}

async function peak(args: string[], liveHeap = false): Promise<Peak> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [
      ...(liveHeap ? ["--expose-gc"] : []),
      "--import",
      "tsx",
      join(HERE, "source-memory-child.ts"),
      ...args,
    ],
    { cwd: join(HERE, ".."), encoding: "utf8" },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Peak;
}
