import { z } from "zod";
import { integerFrom } from "../validate.js";

/**
 * Batch sizing from measurements: big enough that committing a checkpoint costs at most
 * `targetOverhead` of the run, small enough that no batch works longer than `maxBatchMs`
 * (what a crash can lose).
 *
 * @example
 * batchSize: { adaptive: { targetOverhead: 0.01, min: 10, max: 5000, maxBatchMs: 10_000 } }
 */
export interface AdaptiveBatchOptions {
  /** The largest share of run time that checkpoint commits may take. @default 0.01 */
  targetOverhead?: number;
  /** The smallest batch. @default 1 */
  min?: number;
  /** The largest batch. @default 10_000 */
  max?: number;
  /** The most work time one batch may take, in ms. @default 30_000 */
  maxBatchMs?: number;
}

/** What `batchSize` accepts: a fixed size or adaptive sizing. */
export type BatchSizeOption = number | { adaptive: AdaptiveBatchOptions };

const OVERHEAD = "expected a fraction above 0 and below 1, e.g. 0.01 for 1%";

/** The zod schema of the `batchSize` processor option. */
export const batchSizeSchema = z.union(
  [
    integerFrom(1, "pass how many entities to commit at once, e.g. 50"),
    z.strictObject({
      adaptive: z
        .strictObject({
          targetOverhead: z
            .number({ error: OVERHEAD })
            .gt(0, { error: OVERHEAD })
            .lt(1, { error: OVERHEAD })
            .optional(),
          min: integerFrom(1, "pass the smallest batch, e.g. 10").optional(),
          max: integerFrom(1, "pass the largest batch, e.g. 5000").optional(),
          maxBatchMs: integerFrom(1, "pass milliseconds, e.g. 30_000").optional(),
        })
        .refine((a) => (a.min ?? 1) <= (a.max ?? 10_000), {
          error: "min must not be above max",
        }),
    }),
  ],
  {
    error: "expected a whole number from 1 up, or { adaptive: { targetOverhead, min, max } }",
  },
);

/** Chooses the size of each next batch. */
export interface BatchSizer {
  next(): number;
  /** Reports a committed batch: its size, processBatch time and commit time, in ms. */
  record(size: number, workMs: number, commitMs: number): void;
}

/** The sizer for a `batchSize` option. */
export function batchSizer(option: BatchSizeOption): BatchSizer {
  if (typeof option === "number") return { next: () => option, record: () => {} };
  return new AdaptiveBatchSizer(option.adaptive);
}

// Recent batches weigh half: converges in a few batches and follows a change of speed.
const SMOOTHING = 0.5;
// Aim at half the target: commit times are noisy (fsync) and the first commits of a run are
// cold, and the measured overhead should stay under the target, not hover at it.
const HEADROOM = 2;
// One noisy measurement must not grow the size by more than this factor (shrinking is free:
// maxBatchMs must hold at once when entities turn slow).
const MAX_STEP = 10;

/**
 * Sizes batches so that commit / (work + commit) ≤ targetOverhead, from smoothed per-entity
 * work time e and commit time c: n ≥ c·(1 − t) / (t·e), and n·e ≤ maxBatchMs.
 */
export class AdaptiveBatchSizer implements BatchSizer {
  readonly #target: number;
  readonly #min: number;
  readonly #max: number;
  readonly #maxBatchMs: number;
  #size: number;
  #perEntityMs: number | null = null;
  #commitMs: number | null = null;

  constructor(options: AdaptiveBatchOptions = {}) {
    this.#target = options.targetOverhead ?? 0.01;
    this.#min = options.min ?? 1;
    this.#max = options.max ?? 10_000;
    this.#maxBatchMs = options.maxBatchMs ?? 30_000;
    this.#size = this.#clamp(50);
  }

  next(): number {
    return this.#size;
  }

  record(size: number, workMs: number, commitMs: number): void {
    if (size <= 0) return;
    const perEntity = Math.max(0, workMs) / size;
    this.#perEntityMs = smooth(this.#perEntityMs, perEntity);
    this.#commitMs = smooth(this.#commitMs, Math.max(0, commitMs));
    const e = this.#perEntityMs;
    const c = this.#commitMs;
    let wanted = e > 0 ? (HEADROOM * c * (1 - this.#target)) / (this.#target * e) : this.#max;
    // The bound on work time follows a slowdown at once, not after smoothing catches up.
    const slowest = Math.max(e, perEntity);
    if (slowest > 0) wanted = Math.min(wanted, this.#maxBatchMs / slowest);
    wanted = Math.min(wanted, size * MAX_STEP);
    this.#size = this.#clamp(Math.floor(wanted));
  }

  #clamp(size: number): number {
    return Math.min(this.#max, Math.max(this.#min, size));
  }
}

function smooth(previous: number | null, sample: number): number {
  return previous === null ? sample : previous + SMOOTHING * (sample - previous);
}
