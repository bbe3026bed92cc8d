/**
 * A backfill through the command line: `waymark run` over 365 days of 2,000 entities each on
 * SQLite at `--concurrency 8`, every entity written through `ctx.tx`, against the same command
 * over 10 days. It must complete, and its peak RSS stay close to the small one's: nothing of
 * a finished partition may stay behind in memory.
 *
 * Alone: `node --import tsx bench/backfill.ts [--quick]`.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { days } from "../dist/index.js";
import { type BenchRow, formatTable, mib, ms } from "./stats.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MODULE = join(ROOT, "test", "fixtures", "backfill-processors.ts");
const execFileAsync = promisify(execFile);

interface Backfill {
  readonly peakRss: number;
  readonly elapsedMs: number;
  readonly rows: number;
}

/** Runs `waymark run` over `count` days in a fresh process and a fresh store. */
async function backfill(count: number, entities: number): Promise<Backfill> {
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-backfill-"));
  try {
    const db = join(dir, "waymark.db");
    const setup = new Database(db);
    setup.exec(`CREATE TABLE effects (processor TEXT, partition TEXT, entity INTEGER,
      writes INTEGER, PRIMARY KEY (processor, partition, entity))`);
    setup.close();
    const range = days("2023-01-01", "2025-12-31").slice(0, count);
    const started = performance.now();
    await execFileAsync(
      process.execPath,
      [
        "--import",
        join(ROOT, "bench", "peak-rss.mjs"),
        join(ROOT, "dist", "cli", "main.js"),
        "run",
        MODULE,
        "visits",
        "--from",
        range[0] as string,
        "--to",
        range.at(-1) as string,
        "--concurrency",
        "8",
        "--store",
        `sqlite:${db}`,
        "--quiet",
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          ENTITIES: String(entities),
          BATCH_SIZE: "100",
          PEAK_RSS_FILE: join(dir, "peak"),
          WAYMARK_STORE: "",
        },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const elapsedMs = performance.now() - started;
    const check = new Database(db, { readonly: true });
    const { rows, writes } = check
      .prepare("SELECT count(*) AS rows, sum(writes) AS writes FROM effects")
      .get() as { rows: number; writes: number };
    check.close();
    if (rows !== count * entities || writes !== rows) {
      throw new Error(`backfill of ${count} days wrote ${rows} rows, ${writes} writes`);
    }
    return { peakRss: Number(readFileSync(join(dir, "peak"), "utf8")), elapsedMs, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The peak RSS of the large backfill against the small one, and how long the large one took. */
export async function backfillMemory(quick: boolean): Promise<BenchRow[]> {
  const large = quick ? 60 : 365;
  const entities = quick ? 500 : 2000;
  const small = await backfill(10, entities);
  const big = await backfill(large, entities);
  process.stderr.write(
    `  backfill of ${large} x ${entities.toLocaleString("en")}: ${big.rows.toLocaleString("en")} ` +
      `rows through ctx.tx in ${ms(big.elapsedMs)}; 10 days in ${ms(small.elapsedMs)}\n`,
  );
  return [
    {
      name: `peak RSS: waymark run, ${large} days x ${entities} entities vs 10 days, --concurrency 8, sqlite`,
      value: mib(big.peakRss),
      baseline: mib(small.peakRss),
      ratio: big.peakRss / small.peakRss,
      goal: null, // shown: peak RSS follows the GC's slack; memory.ts's live heap rows are the goal
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(formatTable(await backfillMemory(process.argv.includes("--quick"))));
}
