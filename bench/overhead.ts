import { performance } from "node:perf_hooks";
import { defineProcessor, MemoryStore, run } from "../dist/index.js";
import { type BenchRow, median, ms } from "./stats.js";

/** The entity source both sides consume: the same async generator, a fresh instance each. */
async function* entities(count: number): AsyncGenerator<number> {
  for (let n = 1; n <= count; n++) yield n;
}

async function bare(count: number): Promise<number> {
  const started = performance.now();
  let sum = 0;
  // The baseline does the least a consumer must: read every entity.
  for await (const n of entities(count)) sum += n;
  if (sum !== (count * (count + 1)) / 2) throw new Error("bare loop lost entities");
  return performance.now() - started;
}

async function framework(count: number, withState = false): Promise<number> {
  const processor = defineProcessor<number, { sum: number; batches: number; last: number }>({
    name: "bench-overhead",
    batchSize: 1000,
    entities: () => entities(count),
    id: (n) => n,
    // A running sum: each batch encodes it (and checks it round-trips) for its commit.
    ...(withState ? { initialState: () => ({ sum: 0, batches: 0, last: 0 }) } : {}),
    processBatch: withState
      ? (batch, ctx) => {
          for (const n of batch) ctx.state.sum += n;
          ctx.state.batches++;
          ctx.state.last = batch[batch.length - 1] ?? 0;
        }
      : () => {},
  });
  const store = new MemoryStore();
  const started = performance.now();
  const result = await run(processor, { store, logger: false });
  const elapsed = performance.now() - started;
  if (result.processed !== count) throw new Error(`run processed ${result.processed}`);
  await store.close();
  return elapsed;
}

/**
 * Framework overhead: a run of no-op batches over an async generator against a bare
 * `for await` over the same generator, alternated so that both see the same machine.
 */
export async function overhead(quick: boolean): Promise<BenchRow[]> {
  const count = quick ? 100_000 : 1_000_000;
  const repetitions = quick ? 3 : 7;
  await bare(Math.min(count, 100_000)); // warm-up: let the JIT see every path first
  await framework(Math.min(count, 100_000));
  await framework(Math.min(count, 100_000), true);
  const runs: number[] = [];
  const stateful: number[] = [];
  const loops: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    loops.push(await bare(count));
    runs.push(await framework(count));
    stateful.push(await framework(count, true));
  }
  const baseline = median(loops);
  const row = (what: string, value: number): BenchRow => ({
    name: `overhead: ${count.toLocaleString("en")} ${what}, batch 1000 (median of ${repetitions})`,
    value: ms(value),
    baseline: ms(baseline),
    ratio: value / baseline,
    goal: 1.5,
  });
  return [
    row("no-op entities", median(runs)),
    row("entities summed into a JSON state", median(stateful)),
  ];
}
