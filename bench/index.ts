/**
 * `npm run bench` prints a table of what waymark costs against the least the same work could
 * cost (the baseline), with the ratio and the design's goal. Nothing is asserted: machines
 * differ, so read the ratios. `npm run bench -- --quick` is a smaller, faster smoke run.
 */
import { parseArgs } from "node:util";
import { adaptiveRows } from "./adaptive.js";
import { backfillMemory } from "./backfill.js";
import { pgConcurrency, pgEndToEnd, sqliteConcurrency } from "./concurrency.js";
import { pgGroupCeiling, sqliteGroupCeiling } from "./group-ceiling.js";
import { loneRunGroupCommit } from "./group-commit.js";
import { memory } from "./memory.js";
import { overhead } from "./overhead.js";
import { pgCommit } from "./pg-commit.js";
import { fileRows, queryRows, sourceMemoryRows } from "./sources.js";
import { sqliteCommit } from "./sqlite-commit.js";
import { type BenchRow, formatTable } from "./stats.js";

const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
const quick = values.quick;

const rows: BenchRow[] = [];
const step = (label: string) => process.stderr.write(`bench: ${label}...\n`);
step("framework overhead");
rows.push(...(await overhead(quick)));
step("sqlite commit, synchronous=FULL");
rows.push(...(await sqliteCommit("FULL", quick)));
step("sqlite commit, synchronous=NORMAL");
rows.push(...(await sqliteCommit("NORMAL", quick)));
step("commit-bound concurrency on sqlite, synchronous=FULL");
rows.push(...(await sqliteConcurrency(quick)), await sqliteGroupCeiling(quick));
const pgUrl =
  process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
step("one run alone, group commit on against off");
rows.push(...(await loneRunGroupCommit(pgUrl, quick)));
if (pgUrl) {
  step("postgres commit against raw pg and pg-boss");
  rows.push(...(await pgCommit(pgUrl, quick)));
  step("commit-bound concurrency on postgres, and one run end to end against raw pg");
  rows.push(...(await pgConcurrency(pgUrl, quick)), await pgGroupCeiling(pgUrl, quick));
  rows.push(...(await pgEndToEnd(pgUrl, quick)));
} else {
  step("postgres commit skipped: set WAYMARK_BENCH_PG_URL to a server");
}
step("checkpoint overhead: fixed and adaptive batch sizes");
rows.push(...(await adaptiveRows(quick)));
step("peak memory");
rows.push(...(await memory(quick)));
if (pgUrl) {
  step("fromQuery on postgres against a hand-written keyset loop and OFFSET");
  rows.push(...(await queryRows(pgUrl, quick)));
} else {
  step("fromQuery on postgres skipped: set WAYMARK_BENCH_PG_URL to a server");
}
step("fromFile against readline; resume reads; gzip");
rows.push(...(await fileRows(quick)));
step("peak memory of each source against input size");
rows.push(...(await sourceMemoryRows(pgUrl, quick)));
step("peak memory of a backfill through waymark run");
rows.push(...(await backfillMemory(quick)));
console.log(formatTable(rows));
console.log(
  `\nnode ${process.version}, ${quick ? "quick" : "full"} run. Ratios are value / baseline; lower is better.`,
);
