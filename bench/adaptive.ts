/**
 * Checkpoint overhead (commit time as a share of run time) for fixed batch sizes 10/50/100/500
 * and for adaptive sizing, on a SQLite file (synchronous=FULL), with 1 ms of simulated work per
 * entity. Goal: adaptive ≤ 1% and never more than 0.5 points worse than the best fixed size.
 * Run alone with `node --import tsx bench/adaptive.ts [--quick]`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { type BatchSizeOption, defineProcessor, run, SqliteStore } from "../dist/index.js";
import type { BenchRow } from "./stats.js";

/** One configuration's figures. */
export interface AdaptiveBenchRow {
  readonly batchSize: string;
  readonly batches: number;
  readonly commitMs: number;
  readonly runMs: number;
  /** checkpointMs / durationMs, as a fraction. */
  readonly overhead: number;
}

/** Busy-waits: simulated CPU-bound work whose duration does not depend on timer resolution. */
function work(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

async function measure(label: string, batchSize: BatchSizeOption, count: number) {
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-"));
  const store = new SqliteStore(join(dir, "bench.db"), { synchronous: "FULL" });
  try {
    const processor = defineProcessor<number>({
      name: "bench-adaptive",
      batchSize,
      entities: () => Array.from({ length: count }, (_, i) => i + 1),
      id: (n) => n,
      processBatch: (batch) => work(batch.length),
    });
    const result = await run(processor, { store, logger: false });
    if (result.processed !== count) throw new Error(`run processed ${result.processed}`);
    return {
      batchSize: label,
      batches: result.batches,
      commitMs: result.checkpointMs,
      runMs: result.durationMs,
      overhead: result.checkpointMs / result.durationMs,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs every configuration over `count` entities (1 ms each). */
export async function adaptiveBench(quick: boolean): Promise<AdaptiveBenchRow[]> {
  // Each entity is 1 ms of CPU: the quick run only checks that the rows come out.
  const count = quick ? 400 : 2000;
  const rows: AdaptiveBenchRow[] = [];
  for (const size of [10, 50, 100, 500]) rows.push(await measure(String(size), size, count));
  rows.push(await measure("adaptive", { adaptive: { targetOverhead: 0.01 } }, count));
  return rows;
}

/** The two rows `npm run bench` prints: adaptive against the 1% target and the best fixed size. */
export async function adaptiveRows(quick: boolean): Promise<BenchRow[]> {
  const rows = await adaptiveBench(quick);
  const fixed = rows.filter((r) => r.batchSize !== "adaptive");
  const best = fixed.reduce((a, b) => (b.overhead < a.overhead ? b : a));
  const adaptive = rows.find((r) => r.batchSize === "adaptive") as AdaptiveBenchRow;
  const pct = (f: number) => `${(f * 100).toFixed(2)}%`;
  return [
    {
      name: "checkpoint overhead, adaptive batches vs the 1% target (SQLite FULL, 1 ms/entity)",
      value: pct(adaptive.overhead),
      baseline: "1.00%",
      ratio: adaptive.overhead / 0.01,
      goal: 1,
    },
    {
      name: `checkpoint overhead, adaptive vs best fixed size (${best.batchSize} of 10/50/100/500)`,
      value: pct(adaptive.overhead),
      baseline: pct(best.overhead),
      ratio: adaptive.overhead / best.overhead,
      // "never worse than the best fixed size by more than 0.5 points"
      goal: Math.round(((best.overhead + 0.005) / best.overhead) * 100) / 100,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const quick = process.argv.includes("--quick");
  const rows = await adaptiveBench(quick);
  const pct = (f: number) => `${(f * 100).toFixed(2)}%`;
  console.log("batch size  batches  commit ms  run ms   overhead");
  for (const r of rows) {
    console.log(
      `${r.batchSize.padEnd(10)}  ${String(r.batches).padStart(7)}  ${r.commitMs.toFixed(1).padStart(9)}` +
        `  ${String(r.runMs).padStart(6)}   ${pct(r.overhead).padStart(8)}`,
    );
  }
  const fixed = rows.filter((r) => r.batchSize !== "adaptive");
  const best = Math.min(...fixed.map((r) => r.overhead));
  const adaptive = rows.find((r) => r.batchSize === "adaptive") as AdaptiveBenchRow;
  console.log(
    `\nadaptive ${pct(adaptive.overhead)} vs best fixed ${pct(best)}: ` +
      `${((adaptive.overhead - best) * 100).toFixed(2)} points (goal: ≤ 1% and ≤ +0.5 points)`,
  );
}
