/**
 * `npm run bench` prints a table of what waymark costs against the least the same work could
 * cost (the baseline), with the ratio and the design's goal. Nothing is asserted: machines
 * differ, so read the ratios. `npm run bench -- --quick` is a smaller, faster smoke run.
 *
 * Each step of the full run runs in a fresh child process, so that none measures with the
 * heap, the JIT's state or the disk's writeback that an earlier step left behind.
 *
 * Every step measures the built package in `dist/`, the code users run: `npm run bench`
 * builds it first; a step run alone (`node --import tsx bench/<step>.ts`) needs
 * `npm run build` after any change to `src/`.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { adaptiveRows } from "./adaptive.js";
import { backfillMemory } from "./backfill.js";
import { pgConcurrency, pgEndToEnd, sqliteConcurrency } from "./concurrency.js";
import { evenBackfill, skewedBackfill } from "./elastic.js";
import { pgGroupCeiling, sqliteGroupCeiling } from "./group-ceiling.js";
import { loneRunGroupCommit } from "./group-commit.js";
import { loneRun } from "./lone-run.js";
import { memory } from "./memory.js";
import { overhead } from "./overhead.js";
import { pgCommit } from "./pg-commit.js";
import { quotaDeliveries, quotaLeaseRoundTrip, quotaOverhead } from "./quota.js";
import { fileRows, queryRows, sourceMemoryRows } from "./sources.js";
import { sqliteCommit } from "./sqlite-commit.js";
import { type BenchRow, formatTable } from "./stats.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    // Prints each step's number and label (for scripts/bench-compare.sh), and runs nothing.
    list: { type: "boolean", default: false },
    // Internal: run only this step, and write its rows to the file named by ROWS_FILE.
    step: { type: "string" },
  },
});
const quick = values.quick;
const pgUrl =
  process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
const needsPg = "set WAYMARK_BENCH_PG_URL to a server";

/** One step of the benchmark: what it measures, and why it is skipped when it is. */
interface Step {
  readonly label: string;
  readonly skipped?: string;
  readonly rows: () => Promise<BenchRow[]>;
}

const steps: Step[] = [
  { label: "framework overhead", rows: () => overhead(quick) },
  { label: "a lone run that is never split, per batch", rows: () => loneRun(quick) },
  { label: "sqlite commit, synchronous=FULL", rows: () => sqliteCommit("FULL", quick) },
  { label: "sqlite commit, synchronous=NORMAL", rows: () => sqliteCommit("NORMAL", quick) },
  {
    label: "commit-bound concurrency on sqlite, synchronous=FULL",
    rows: async () => [...(await sqliteConcurrency(quick)), await sqliteGroupCeiling(quick)],
  },
  {
    label: "one run alone, group commit on against off",
    rows: () => loneRunGroupCommit(pgUrl, quick),
  },
  {
    label: "postgres commit against raw pg and pg-boss",
    skipped: pgUrl ? undefined : needsPg,
    rows: () => pgCommit(pgUrl as string, quick),
  },
  {
    label: "commit-bound concurrency on postgres, and one run end to end against raw pg",
    skipped: pgUrl ? undefined : needsPg,
    rows: async () => [
      ...(await pgConcurrency(pgUrl as string, quick)),
      await pgGroupCeiling(pgUrl as string, quick),
      ...(await pgEndToEnd(pgUrl as string, quick)),
    ],
  },
  { label: "checkpoint overhead: fixed and adaptive batch sizes", rows: () => adaptiveRows(quick) },
  { label: "peak memory", rows: () => memory(quick) },
  {
    label: "fromQuery on postgres against a hand-written keyset loop and OFFSET",
    skipped: pgUrl ? undefined : needsPg,
    rows: () => queryRows(pgUrl as string, quick),
  },
  { label: "fromFile against readline; resume reads; gzip", rows: () => fileRows(quick) },
  {
    label: "peak memory of each source against input size",
    rows: () => sourceMemoryRows(pgUrl, quick),
  },
  { label: "peak memory of a backfill through waymark run", rows: () => backfillMemory(quick) },
  {
    label: "a shared quota's delivered rate: 16 runners in 4 processes wanting more than it",
    rows: () => quotaDeliveries(pgUrl, quick),
  },
  { label: "a quota far above the pace against none", rows: () => quotaOverhead(quick) },
  {
    label: "a quota's token lease round trip on postgres",
    skipped: pgUrl ? undefined : needsPg,
    rows: () => quotaLeaseRoundTrip(pgUrl as string, quick),
  },
  {
    label: "an elastic backfill on sqlite: skewed, split and not; even, 4 processes against 1",
    rows: async () => [...(await skewedBackfill(undefined, quick)), ...(await evenBackfill(quick))],
  },
  {
    label: "an elastic backfill on postgres: skewed, split and not",
    skipped: pgUrl ? undefined : needsPg,
    rows: () => skewedBackfill(pgUrl as string, quick),
  },
];

if (values.list) {
  for (const [index, step] of steps.entries()) console.log(`${index}\t${step.label}`);
} else if (values.step !== undefined) {
  const step = steps[Number(values.step)];
  if (!step) throw new Error(`no benchmark step ${values.step}`);
  writeFileSync(process.env.ROWS_FILE as string, JSON.stringify(await step.rows()));
} else {
  const rows: BenchRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-rows-"));
  try {
    for (const [index, step] of steps.entries()) {
      if (step.skipped) {
        process.stderr.write(`bench: ${step.label} skipped: ${step.skipped}\n`);
        continue;
      }
      process.stderr.write(`bench: ${step.label}...\n`);
      // The quick run checks that every step prints its rows, not the figures: it saves a
      // process start per step by running them here.
      rows.push(...(quick ? await step.rows() : await inChild(index, join(dir, `${index}.json`))));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(formatTable(rows));
  console.log(
    `\nnode ${process.version}, ${quick ? "quick" : "full"} run. Ratios are value / baseline; lower is better.`,
  );
}

/** Runs step `index` in a fresh process with this one's flags; resolves to its rows. */
async function inChild(index: number, rowsFile: string): Promise<BenchRow[]> {
  const args = [
    ...process.execArgv,
    fileURLToPath(import.meta.url),
    "--step",
    String(index),
    ...(quick ? ["--quick"] : []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: "inherit",
    env: { ...process.env, ROWS_FILE: rowsFile },
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  });
  if (code !== 0) throw new Error(`benchmark step "${steps[index]?.label}" exited ${code}`);
  return JSON.parse(readFileSync(rowsFile, "utf8")) as BenchRow[];
}
