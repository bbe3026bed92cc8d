import { describeValue, InvalidOptionError } from "../core/errors.js";
import type { SplitArgs } from "../core/shard-types.js";
import { refuseUnknownKeys } from "../core/validate.js";
import { forPartition, type PerPartition, type Source, type SourceArgs } from "./source.js";

/** The integers a {@link fromRange} source walks: `from`, `from + step`, … up to `to`. */
export interface RangeOptions {
  /** The first integer. */
  readonly from: number;
  /** The last integer, included. A `to` below `from` is an empty range. */
  readonly to: number;
  /** The distance between two integers. @default 1 */
  readonly step?: number;
}

/**
 * A source of the integers from `from` to `to` (both included), each its own id: pages of
 * an API, blocks of ids to update in slices, numbered files. A resume starts at the first
 * integer after the cursor without producing the ones before it, and the count is known.
 * A running partition splits at the middle of the integers it has not reached.
 * The range may depend on the partition (`({ partition }) => ({ from: 1, to: await maxId(partition) })`).
 *
 * @example
 * defineProcessor({
 *   name: "invoice-pages",
 *   ...fromRange({ from: 1, to: 500 }),
 *   async processBatch(pages) { for (const page of pages) await importPage(page) },
 * });
 */
export function fromRange(range: PerPartition<RangeOptions>): Source<number, number> {
  if (typeof range !== "function") checkRange(range);
  const resolve = async (partition: string) => checkRange(await forPartition(range, partition));
  return {
    async entities({ partition, after, shard }: SourceArgs) {
      const bounds = await resolve(partition);
      return new IntegerRange(
        bounds,
        after as number | null,
        typeof shard?.to === "number" ? shard.to : undefined,
      );
    },
    id: (n) => n,
    async count({ partition, shard }) {
      const bounds = await resolve(partition);
      const after = typeof shard?.from === "number" ? shard.from : null;
      return new IntegerRange(
        bounds,
        after as number | null,
        typeof shard?.to === "number" ? shard.to : undefined,
      ).size;
    },
    async split({ partition, after, to, minimum }: SplitArgs) {
      const rest = new IntegerRange(
        await resolve(partition),
        after as number | null,
        typeof to === "number" ? to : undefined,
      );
      return rest.middle(minimum);
    },
  };
}

interface CheckedRange {
  readonly from: number;
  readonly to: number;
  readonly step: number;
}

/** The integers of a range strictly after `after` and up to `until`, produced lazily. */
class IntegerRange implements Iterable<number> {
  readonly #first: number;
  readonly #last: number;
  readonly #step: number;

  constructor(range: CheckedRange, after: number | null, until: number | undefined) {
    const { from, step } = range;
    // The first multiple of `step` past `after`, counted from `from`.
    this.#first =
      after === null || after < from ? from : from + (Math.floor((after - from) / step) + 1) * step;
    this.#last = until === undefined ? range.to : Math.min(range.to, until);
    this.#step = step;
  }

  /** How many integers the range yields. */
  get size(): number {
    return this.#last < this.#first ? 0 : Math.floor((this.#last - this.#first) / this.#step) + 1;
  }

  /**
   * The integer that ends the first half of the range, so that both halves hold at least
   * `minimum` (and at least one) integers; null when the range is too small for that.
   */
  middle(minimum: number): number | null {
    const size = this.size;
    if (size < 2 || size < 2 * minimum) return null;
    return this.#first + (Math.floor(size / 2) - 1) * this.#step;
  }

  *[Symbol.iterator](): Iterator<number> {
    for (let n = this.#first; n <= this.#last; n += this.#step) yield n;
  }
}

function checkRange(range: RangeOptions): CheckedRange {
  if (range === null || typeof range !== "object") {
    throw new InvalidOptionError(
      "range",
      `fromRange expects { from, to, step? } or a function of the partition returning it, got ${describeValue(range)}.`,
    );
  }
  refuseUnknownKeys(range, ["from", "to", "step"], "fromRange");
  const { from, to, step = 1 } = range;
  for (const [name, value] of [
    ["from", from],
    ["to", to],
  ] as const) {
    if (!Number.isSafeInteger(value)) {
      throw new InvalidOptionError(
        name,
        `Invalid fromRange option \`${name}\`: expected a safe integer, got ${describeValue(value)}.`,
      );
    }
  }
  if (!Number.isSafeInteger(step) || step < 1) {
    throw new InvalidOptionError(
      "step",
      `Invalid fromRange option \`step\`: expected an integer from 1 and up, got ${describeValue(step)}.`,
    );
  }
  return { from, to, step };
}
