/**
 * The processors of the elastic-backfill benchmark, loaded by `waymark run` in each process as
 * a user's module would be. Each walks the integers 1..N of its partition (`fromRange`), N from
 * `ELASTIC_SIZES` (JSON, by partition), in batches of 10, and each batch awaits a 25 ms timer:
 * I/O-bound work, so that four processes on two cores measure how work is shared, not CPU.
 *
 * - `elastic`: `fromRange` with its split points, so an idle runner can split a running partition.
 * - `unsplit`: the same without them: a partition is never split.
 */
import { defineProcessor, fromRange } from "../dist/index.js";

const sizes = JSON.parse(process.env.ELASTIC_SIZES ?? "{}");
const delayMs = Number(process.env.BATCH_DELAY_MS ?? 25);
const range = fromRange(({ partition }) => ({ from: 1, to: sizes[partition] ?? 100 }));

const common = {
  batchSize: 10,
  retry: false,
  processBatch: () => new Promise((resolve) => setTimeout(resolve, delayMs)),
};

export const elastic = defineProcessor({ name: "elastic", ...range, ...common });

const { split: _split, ...unsplitRange } = range;
export const unsplit = defineProcessor({ name: "unsplit", ...unsplitRange, ...common });
