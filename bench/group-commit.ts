/**
 * What group commit costs a run that is alone on its store: the same run, `batchSize: 1`, no
 * work, on a store with group commit (the default) and on one opened with
 * `groupCommit: false`, interleaved round by round, each first every other round. A lone run's commit is written at once,
 * so the ratio should stay at 1. SQLite runs with `synchronous=NORMAL`, where a commit costs
 * little and any added work would show.
 *
 * Alone: `node --import tsx bench/group-commit.ts [--quick]` (a PostgreSQL row when
 * WAYMARK_BENCH_PG_URL, WAYMARK_TEST_PG_URL or DATABASE_URL names a server).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { type CheckpointStore, PostgresStore, run, SqliteStore } from "../dist/index.js";
import { commitBound } from "./concurrency.js";
import { alternate, type BenchRow, formatTable, ms } from "./stats.js";

/** Per-batch medians of a lone run on `grouped` and on `alone`, alternated, and their ratio. */
async function lone(
  label: string,
  grouped: CheckpointStore,
  alone: CheckpointStore,
  entities: number,
  repetitions: number,
): Promise<BenchRow> {
  let round = 0;
  const perBatch = (store: CheckpointStore) => async () => {
    const processor = commitBound(`lone-${round++}`, entities);
    const started = performance.now();
    const result = await run(processor, { store, partition: "p", logger: false });
    if (result.status !== "completed") throw new Error(`a lone run ended ${result.status}`);
    return (performance.now() - started) / entities;
  };
  const m = await alternate(repetitions, perBatch(grouped), perBatch(alone));
  return {
    name: `${label}: one run alone, group commit on vs off, per batch, batchSize 1, ${entities} entities`,
    value: ms(m.a),
    baseline: ms(m.b),
    ratio: m.ratio,
    goal: 1.05,
  };
}

/** The lone run on SQLite (`synchronous=NORMAL`) and, given a server, on PostgreSQL. */
export async function loneRunGroupCommit(url: string | undefined, quick: boolean) {
  const rows: BenchRow[] = [];
  // Both sides take the same path, so the ratio is the machine's noise around 1: many short
  // rounds, interleaved, give a median that noise moves less than a few long ones.
  const entities = quick ? 300 : 2000;
  const repetitions = quick ? 4 : 30;
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-"));
  const on = new SqliteStore(join(dir, "on.db"), { synchronous: "NORMAL" });
  const off = new SqliteStore(join(dir, "off.db"), { synchronous: "NORMAL", groupCommit: false });
  try {
    rows.push(await lone("sqlite NORMAL", on, off, entities, repetitions));
  } finally {
    await Promise.all([on.close(), off.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
  if (!url) return rows;
  const schemas = [0, 1].map(() => `bench_${randomBytes(4).toString("hex")}`);
  const [pgOn, pgOff] = await Promise.all(
    schemas.map((schema, i) =>
      PostgresStore.open({ connectionString: url, schema, poolSize: 2, groupCommit: i === 0 }),
    ),
  );
  try {
    // A PostgreSQL commit is a round trip: half the entities keep the rounds short.
    if (pgOn && pgOff) {
      rows.push(await lone("postgres", pgOn, pgOff, entities / 2, quick ? repetitions : 20));
    }
  } finally {
    for (const [i, store] of [pgOn, pgOff].entries()) {
      await store?.pool.query(`DROP SCHEMA IF EXISTS ${schemas[i]} CASCADE`).catch(() => {});
      await store?.close();
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const url =
    process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
  console.log(formatTable(await loneRunGroupCommit(url, process.argv.includes("--quick"))));
}
