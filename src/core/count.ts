import { describeValue, InvalidOptionError } from "./errors.js";
import type { Logger } from "./types.js";

/**
 * `count()` is a promise about the partition, not the truth: its answer is checked before the
 * first batch, and a total it underestimated grows to the entities actually seen.
 */

/** The answer of `count()` if it is a non-negative safe integer; an `InvalidOptionError` if not. */
export function checkCount(value: unknown, where: string): number {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  throw new InvalidOptionError(
    "count",
    `count() of ${where} returned ${describeValue(value)}; return how many entities the ` +
      "partition has, a whole number from 0 up (e.g. the result of SELECT count(*)), or leave " +
      "count out. Nothing was processed.",
  );
}

/** The part of a run's tally that tracks its total. */
export interface TotalTally {
  total: number | null;
  /** Whether more entities arrived than counted (warned once per run). */
  totalGrew: boolean;
}

/**
 * Keeps a run's total no smaller than what it has `completed`: when more entities arrived
 * than counted, the total becomes the entities seen, with one warning per run, so progress
 * never passes 100%.
 */
export function reachTotal(
  tally: TotalTally,
  completed: number,
  where: string,
  logger: Logger,
): void {
  if (tally.total === null || completed <= tally.total) return;
  if (!tally.totalGrew) {
    tally.totalGrew = true;
    logger.warn(
      `${where} has more entities than count() said (${tally.total}); the total now follows ` +
        "the entities seen. Fix count() so that progress and ETAs are right.",
    );
  }
  tally.total = completed;
}
