/**
 * Commit-bound concurrency: runs in one process whose batches do no work (`batchSize: 1`), so
 * that their time is all checkpoint commits. Eight partitions at once through `runPartitions`
 * against one partition run alone, times eight: the ratio is how much of the eightfold the
 * process gets (0.125 would be perfect; 0.167 is a speed-up of 6).
 *
 * Alone: `node --import tsx bench/concurrency.ts [--quick]` (PostgreSQL rows when
 * WAYMARK_BENCH_PG_URL, WAYMARK_TEST_PG_URL or DATABASE_URL names a server).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import pg from "pg";
import {
  type CheckpointStore,
  defineProcessor,
  PostgresStore,
  run,
  runPartitions,
  SqliteStore,
} from "../dist/index.js";
import { type BenchRow, formatTable, median, ms, pairedRatio } from "./stats.js";

const RUNS = 8;
/** Medians of this many rounds: on a shared machine a single round can be off by a quarter. */
const REPETITIONS = 7;

/** A processor of `entities` entities, one per batch, that does no work: commits only. */
export function commitBound(name: string, entities: number) {
  return defineProcessor<number>({
    name,
    batchSize: 1,
    retry: false,
    entities: ({ after }) =>
      Array.from({ length: entities }, (_, i) => i + 1).filter(
        (n) => after === null || n > (after as number),
      ),
    id: (n) => n,
    processBatch() {},
  });
}

/** One partition alone, then eight at once, `repetitions` times; medians of each. */
async function measure(
  store: CheckpointStore,
  entities: number,
  repetitions: number,
): Promise<Measured> {
  const alone: number[] = [];
  const together: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    const processor = commitBound(`concurrency-${r}`, entities);
    let started = performance.now();
    const one = await run(processor, { store, partition: "alone", logger: false });
    alone.push(performance.now() - started);
    if (one.status !== "completed") throw new Error(`a lone run ended ${one.status}`);
    const partitions = Array.from({ length: RUNS }, (_, i) => `p${i}`);
    started = performance.now();
    const all = await runPartitions(processor, {
      store,
      partitions,
      concurrency: RUNS,
      logger: false,
    });
    together.push(performance.now() - started);
    if (all.status !== "completed") throw new Error(`the backfill ended ${all.status}`);
  }
  // A disk whose fsync drifts over the measure (it does, by half) moves both halves alike.
  const sequential = alone.map((elapsed) => elapsed * RUNS);
  return {
    alone: median(alone),
    together: median(together),
    ratio: pairedRatio(together, sequential),
  };
}

/** Medians of one partition alone and of eight at once, and the median of their ratios. */
interface Measured {
  readonly alone: number;
  readonly together: number;
  readonly ratio: number;
}

/**
 * The row of one store. No fixed goal: what grouping can gain depends on the machine's fsync,
 * which the raw driver's ceiling, measured in the same step, shows beside it.
 */
function row(label: string, entities: number, m: Measured, grouped = true): BenchRow {
  return {
    name:
      `${label}${grouped ? "" : " without group commit"}: ${RUNS} partitions at once vs 1 ` +
      `alone x ${RUNS}, batchSize 1, ${entities} entities ` +
      `(speed-up ${(1 / m.ratio).toFixed(1)}x)`,
    value: ms(m.together),
    baseline: ms(m.alone * RUNS),
    ratio: m.ratio,
    goal: null,
  };
}

/**
 * Group commit must never cost more than it saves: the 8 runs' time with it against without,
 * each first divided by its own lone runs' (so that the machine's drift between the two
 * measures cancels out). The goal leaves 5% for the noise of two separate measures.
 */
function payoffRow(label: string, grouped: Measured, plain: Measured): BenchRow {
  return {
    name: `${label}: ${RUNS} partitions at once, group commit on vs off (each against its lone runs)`,
    value: ms(grouped.together),
    baseline: ms(plain.together),
    ratio: grouped.ratio / plain.ratio,
    goal: 1.05,
  };
}

/** SQLite with `synchronous=FULL`: every commit waits for the disk. */
export async function sqliteConcurrency(quick: boolean): Promise<BenchRow[]> {
  // A thousand batches per run, so that what a run does once (its lease, its history row, the
  // backfill's record) weighs as little as in a real backfill, where it is thousands.
  const entities = quick ? 100 : 1000;
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-"));
  const rows: BenchRow[] = [];
  const measured: Measured[] = [];
  try {
    for (const groupCommit of [true, false]) {
      const file = join(dir, `store-${groupCommit}.db`);
      const store = new SqliteStore(file, { synchronous: "FULL", groupCommit });
      try {
        const m = await measure(store, entities, quick ? 1 : REPETITIONS);
        measured.push(m);
        rows.push(row("sqlite FULL", entities, m, groupCommit));
      } finally {
        await store.close();
      }
    }
    rows.push(payoffRow("sqlite FULL", measured[0] as Measured, measured[1] as Measured));
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** PostgreSQL: every commit is a round trip and a WAL flush on the server. */
export async function pgConcurrency(url: string, quick: boolean): Promise<BenchRow[]> {
  const entities = quick ? 100 : 400;
  const rows: BenchRow[] = [];
  const measured: Measured[] = [];
  for (const groupCommit of [true, false]) {
    const schema = `bench_${randomBytes(4).toString("hex")}`;
    const store = await PostgresStore.open({
      connectionString: url,
      schema,
      poolSize: RUNS + 2,
      groupCommit,
    });
    try {
      const m = await measure(store, entities, quick ? 1 : REPETITIONS);
      measured.push(m);
      rows.push(row("postgres", entities, m, groupCommit));
    } finally {
      await store.pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await store.close();
    }
  }
  rows.push(payoffRow("postgres", measured[0] as Measured, measured[1] as Measured));
  return rows;
}

/**
 * One run end to end, `batchSize: 1`, no work, on PostgreSQL: time per batch against a raw
 * `pg` loop that UPSERTs the same checkpoint row once per entity, interleaved run by run.
 */
export async function pgEndToEnd(url: string, quick: boolean): Promise<BenchRow[]> {
  const entities = quick ? 300 : 2000;
  const repetitions = quick ? 3 : 7;
  const schema = `bench_${randomBytes(4).toString("hex")}`;
  const store = await PostgresStore.open({ connectionString: url, schema, poolSize: 2 });
  const raw = new pg.Pool({ connectionString: url, max: 1 });
  const upsert = `INSERT INTO ${schema}.checkpoints AS c (processor, partition, processor_version,
      cursor, completed, total, state, fingerprint, lease_expires_at, created_at, updated_at)
    VALUES ($1, $2, 1, $3, $4, $5, NULL, NULL, $6, $7, $7)
    ON CONFLICT (processor, partition, shard) DO UPDATE SET processor_version = 1,
      cursor = EXCLUDED.cursor, completed = EXCLUDED.completed, total = EXCLUDED.total,
      state = EXCLUDED.state, fingerprint = NULL, lease_expires_at = EXCLUDED.lease_expires_at,
      updated_at = EXCLUDED.updated_at`;
  const ours: number[] = [];
  const theirs: number[] = [];
  try {
    for (let r = 0; r <= repetitions; r++) {
      const processor = commitBound(`end-to-end-${r}`, entities);
      let started = performance.now();
      const result = await run(processor, { store, partition: "p", logger: false });
      const runMs = performance.now() - started;
      if (result.status !== "completed") throw new Error(`the run ended ${result.status}`);
      started = performance.now();
      for (let n = 1; n <= entities; n++) {
        const now = Date.now();
        await raw.query(upsert, [
          "raw",
          `p${r}`,
          JSON.stringify(n),
          n,
          entities,
          now + 30_000,
          now,
        ]);
      }
      const rawMs = performance.now() - started;
      if (r > 0) {
        // The first round warms prepared statements, the pool and the JIT.
        ours.push(runMs / entities);
        theirs.push(rawMs / entities);
      }
    }
    const value = median(ours);
    const baseline = median(theirs);
    return [
      {
        name: `postgres end to end per batch, batchSize 1, no work, vs raw pg UPSERT loop (${entities} entities)`,
        value: ms(value),
        baseline: ms(baseline),
        ratio: value / baseline,
        goal: 1.1,
      },
    ];
  } finally {
    await raw.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await raw.end();
    await store.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const quick = process.argv.includes("--quick");
  const rows = await sqliteConcurrency(quick);
  const url =
    process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
  if (url) rows.push(...(await pgConcurrency(url, quick)), ...(await pgEndToEnd(url, quick)));
  console.log(formatTable(rows));
}
