/**
 * Consumes `argv[2]` entities in this fresh process and prints its peak memory, so that runs
 * of different sizes can be compared. `argv[3]` is `run` (a waymark run on MemoryStore) or
 * `bare` (a plain `for await` over the same source). With `--expose-gc` it also samples the
 * live heap after a full collection every 100 batches: the leak detector, free of the GC's
 * habit of growing its heap while garbage piles up.
 */
import { defineProcessor, MemoryStore, run } from "../dist/index.js";

const count = Number(process.argv[2]);
const mode = process.argv[3] ?? "run";
if (!Number.isInteger(count) || count < 1 || (mode !== "run" && mode !== "bare")) {
  throw new Error("usage: memory-child.ts COUNT run|bare");
}
const BATCH = 1000;
const gc = (globalThis as { gc?: () => void }).gc;

interface Player {
  id: number;
  name: string;
  points: number;
}

async function* entities(total: number): AsyncGenerator<Player> {
  // Entities with some payload, as rows from a database would have.
  for (let id = 1; id <= total; id++) yield { id, name: `player-${id}`, points: id % 97 };
}

let peakRss = process.memoryUsage().rss;
let peakHeap = 0;
let batches = 0;
function sample(): void {
  batches++;
  if (gc && (batches === 1 || batches % 100 === 0)) {
    gc();
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}

if (mode === "bare") {
  let sum = 0;
  let seen = 0;
  for await (const e of entities(count)) {
    sum += e.points;
    if (++seen % BATCH === 0) sample();
  }
  if (seen !== count || sum < 0) throw new Error(`saw ${seen} of ${count}`);
} else {
  const processor = defineProcessor<Player, { sum: number }>({
    name: "bench-memory",
    batchSize: BATCH,
    entities: () => entities(count),
    id: (e) => e.id,
    initialState: () => ({ sum: 0 }),
    processBatch: (batch, ctx) => {
      for (const e of batch) ctx.state.sum += e.points;
    },
  });
  const result = await run(processor, {
    store: new MemoryStore(),
    logger: false,
    onProgress: sample,
  });
  if (result.processed !== count) throw new Error(`processed ${result.processed} of ${count}`);
}
// maxRSS (KiB) is the kernel's peak, which also catches a spike between two samples.
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
process.stdout.write(`${JSON.stringify({ peakRss, peakHeap })}\n`);
