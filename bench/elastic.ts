/**
 * Elastic backfills through the command line: the same `waymark run` started in several
 * processes at once shares one backfill. Each batch awaits a 25 ms timer (I/O-bound, so two
 * cores are enough for four processes), batches of 10.
 *
 * - Skewed: 16 partitions, one holding half of all entities, 4 processes, against the ideal
 *   (one process's time for the whole backfill, divided by 4), beside the same backfill with
 *   splitting off.
 * - Even: 16 equal partitions, 4 processes against 1.
 *
 * Wall time runs from the first process's spawn to the last one's exit, process start
 * included. Alone: `node --import tsx bench/elastic.ts [--quick]` after `npm run build`.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { type BenchRow, formatTable, ms } from "./stats.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CLI = join(ROOT, "dist", "cli", "main.js");
const MODULE = join(ROOT, "bench", "elastic-processors.mjs");
const BATCH_MS = 25;
const execFileAsync = promisify(execFile);

/** Where one backfill runs: a fresh SQLite file or a fresh PostgreSQL schema. */
interface Place {
  readonly label: string;
  readonly url: string;
  readonly drop: () => Promise<void>;
}

async function freshPlace(pgUrl: string | undefined, round: string): Promise<Place> {
  if (!pgUrl) {
    const dir = mkdtempSync(join(tmpdir(), "waymark-bench-elastic-"));
    return {
      label: "sqlite",
      url: `sqlite:${join(dir, "waymark.db")}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `waymark_bench_elastic_${round}_${process.pid}`;
  const url = new URL(pgUrl);
  url.searchParams.set("schema", schema);
  const drop = async () => {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await client.end();
    }
  };
  await drop();
  return { label: "postgres", url: url.href, drop };
}

/**
 * Runs `waymark run` over `sizes`' partitions in `processes` processes started together; the
 * wall time until the last one exits. Every process must exit 0: the backfill completed.
 */
async function backfill(
  processor: "elastic" | "unsplit",
  sizes: Record<string, number>,
  processes: number,
  place: Place,
): Promise<number> {
  const partitions = Object.keys(sizes).join(",");
  const env = {
    ...process.env,
    ELASTIC_SIZES: JSON.stringify(sizes),
    BATCH_DELAY_MS: String(BATCH_MS),
  };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: processes }, () =>
      execFileAsync(
        process.execPath,
        [
          CLI,
          "run",
          MODULE,
          processor,
          "--partitions",
          partitions,
          "--store",
          place.url,
          "--quiet",
        ],
        { env },
      ),
    ),
  );
  return performance.now() - started;
}

/** `count` partitions named p01…, holding `total` entities: one holds `share` of them. */
function partitionSizes(
  count: number,
  total: number,
  share: number | null,
): Record<string, number> {
  const sizes: Record<string, number> = {};
  const big = share === null ? 0 : Math.round(total * share);
  const rest = Math.floor((total - big) / (share === null ? count : count - 1));
  for (let i = 1; i <= count; i++) {
    const name = `p${String(i).padStart(2, "0")}`;
    // The big partition is the fifth: claimed early, beside small ones, as a real list has it.
    sizes[name] = share !== null && i === 5 ? big : rest;
  }
  return sizes;
}

async function measure(
  pgUrl: string | undefined,
  run: (place: Place) => Promise<number>,
  round: string,
): Promise<number> {
  const place = await freshPlace(pgUrl, round);
  try {
    return await run(place);
  } finally {
    await place.drop();
  }
}

/** The skewed backfill on one store, split and unsplit, against the ideal. */
export async function skewedBackfill(
  pgUrl: string | undefined,
  quick: boolean,
): Promise<BenchRow[]> {
  const total = quick ? 480 : 16_000;
  const sizes = partitionSizes(16, total, 0.5);
  const label = pgUrl ? "postgres" : "sqlite";
  // The ideal: every batch's time, as one process running the whole backfill alone takes it
  // (process start included), divided by 4.
  const one = await measure(pgUrl, (place) => backfill("unsplit", sizes, 1, place), "one");
  const best = one / 4;
  const split = await measure(pgUrl, (place) => backfill("elastic", sizes, 4, place), "split");
  const unsplit = await measure(pgUrl, (place) => backfill("unsplit", sizes, 4, place), "unsplit");
  const name = (what: string) =>
    `elastic ${label}: 16 partitions, one with half of ${total.toLocaleString("en")}, 4 processes, ${what}, against a quarter of 1 process`;
  return [
    {
      name: name("splitting"),
      value: ms(split),
      baseline: ms(best),
      ratio: split / best,
      goal: 1.2,
    },
    {
      name: name("never split"),
      value: ms(unsplit),
      baseline: ms(best),
      ratio: unsplit / best,
      goal: null,
    },
  ];
}

/** The even backfill on SQLite: 4 processes against 1 (the row's ratio is 1 / speed-up). */
export async function evenBackfill(quick: boolean): Promise<BenchRow[]> {
  const total = quick ? 480 : 16_000;
  const sizes = partitionSizes(16, total, null);
  const one = await measure(undefined, (place) => backfill("elastic", sizes, 1, place), "one");
  const four = await measure(undefined, (place) => backfill("elastic", sizes, 4, place), "four");
  // Against a quarter of one process's time: the ratio is 4 / speed-up, so ≥ 3.6× is ≤ 1.11.
  const quarter = one / 4;
  return [
    {
      name: `elastic sqlite: 16 even partitions of ${total.toLocaleString("en")}, 4 processes against a quarter of 1 (speed-up ${(one / four).toFixed(2)}x)`,
      value: ms(four),
      baseline: ms(quarter),
      ratio: four / quarter,
      goal: 1.11,
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes("--quick");
  const pgUrl = process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL;
  const rows = [...(await skewedBackfill(undefined, quick)), ...(await evenBackfill(quick))];
  if (pgUrl) rows.push(...(await skewedBackfill(pgUrl, quick)));
  console.log(formatTable(rows));
}
