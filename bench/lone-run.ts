/**
 * A lone run that is never split: `fromRange` (which names split points) over 20,000 ids in
 * batches of 10 on a SQLite file, against the least the same commits cost by hand: one raw
 * better-sqlite3 transaction per batch writing the batch's cursor. CPU (`process.cpuUsage`)
 * and wall time per batch, alternated in one process so both see the same machine.
 *
 * The row exists to be compared across versions (scripts/bench-compare.sh): what the ability
 * to split and the guarded store path cost a run that never uses them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { defineProcessor, fromRange, run, SqliteStore } from "../dist/index.js";
import { type BenchRow, median } from "./stats.js";

const BATCH = 10;

interface Cost {
  readonly cpuUs: number;
  readonly wallMs: number;
}

async function measure(work: () => Promise<void> | void): Promise<Cost> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { cpuUs: used.user + used.system, wallMs: performance.now() - started };
}

async function lone(dir: string, count: number, round: number): Promise<Cost> {
  const store = new SqliteStore(join(dir, `run-${round}.db`));
  const processor = defineProcessor<number>({
    name: "bench-lone",
    batchSize: BATCH,
    ...fromRange({ from: 1, to: count }),
    processBatch: () => {},
  });
  try {
    return await measure(async () => {
      const result = await run(processor, { store, logger: false });
      if (result.processed !== count) throw new Error(`run processed ${result.processed}`);
    });
  } finally {
    await store.close();
  }
}

function raw(dir: string, count: number, round: number): Cost {
  const db = new Database(join(dir, `raw-${round}.db`));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE checkpoints (key TEXT PRIMARY KEY, cursor TEXT, completed INTEGER)");
  const upsert = db.prepare(
    `INSERT INTO checkpoints (key, cursor, completed) VALUES ('k', ?, ?)
     ON CONFLICT (key) DO UPDATE SET cursor = excluded.cursor, completed = excluded.completed`,
  );
  const commit = db.transaction((cursor: number) => upsert.run(JSON.stringify(cursor), cursor));
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let n = BATCH; n <= count; n += BATCH) commit(n);
  db.prepare("DELETE FROM checkpoints").run();
  const used = process.cpuUsage(cpu);
  const wallMs = performance.now() - started;
  db.close();
  return { cpuUs: used.user + used.system, wallMs };
}

/** Per-batch CPU and wall time of a never-split lone run against raw per-batch commits. */
export async function loneRun(quick: boolean): Promise<BenchRow[]> {
  const count = quick ? 2_000 : 20_000;
  const rounds = quick ? 3 : 9;
  const batches = count / BATCH;
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-lone-"));
  try {
    await lone(dir, count, -1); // warm-up: the JIT sees every path first
    raw(dir, count, -1);
    const ours: Cost[] = [];
    const theirs: Cost[] = [];
    for (let i = 0; i < rounds; i++) {
      ours.push(await lone(dir, count, i));
      theirs.push(raw(dir, count, i));
    }
    const perBatch = (costs: Cost[], pick: (c: Cost) => number) =>
      median(costs.map(pick)) / batches;
    const cpuOurs = perBatch(ours, (c) => c.cpuUs);
    const cpuRaw = perBatch(theirs, (c) => c.cpuUs);
    const wallOurs = perBatch(ours, (c) => c.wallMs);
    const wallRaw = perBatch(theirs, (c) => c.wallMs);
    const name = (what: string) =>
      `lone run never split: fromRange ${count.toLocaleString("en")} in batches of ${BATCH} on sqlite, ${what} per batch against raw commits (median of ${rounds})`;
    return [
      {
        name: name("CPU"),
        value: `${cpuOurs.toFixed(1)} µs`,
        baseline: `${cpuRaw.toFixed(1)} µs`,
        ratio: cpuOurs / cpuRaw,
        goal: null,
      },
      {
        name: name("time"),
        value: `${(wallOurs * 1000).toFixed(1)} µs`,
        baseline: `${(wallRaw * 1000).toFixed(1)} µs`,
        ratio: wallOurs / wallRaw,
        goal: null,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
