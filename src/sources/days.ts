import { describeValue, InvalidOptionError } from "../core/errors.js";
import { refuseUnknownKeys } from "../core/validate.js";

const DAY_MS = 86_400_000;

/** Options of {@link days}. */
export interface DaysOptions {
  /**
   * The most days the range may span: a guard against a typo in a year turning one backfill
   * into a million partitions. @default 36_600 (about a century)
   */
  readonly maxDays?: number;
}

/**
 * Every calendar day from `from` to `to`, both included, as `YYYY-MM-DD` partitions (UTC).
 * Pass dates as `YYYY-MM-DD` strings or `Date`s. Throws an `InvalidOptionError` naming
 * `from`, `to` or `maxDays` for a date that does not exist, a `to` before `from` or a range
 * longer than `maxDays`.
 *
 * @example
 * await runPartitions(summaries, { partitions: days("2024-01-01", "2024-01-31"), store });
 * days("2024-02-27", "2024-03-01"); // ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
 */
export function days(from: string | Date, to: string | Date, options: DaysOptions = {}): string[] {
  refuseUnknownKeys(options, ["maxDays"], "days");
  const { maxDays = 36_600 } = options;
  if (!Number.isSafeInteger(maxDays) || maxDays < 1) {
    throw new InvalidOptionError(
      "maxDays",
      `\`maxDays\` expects an integer from 1 and up, got ${describeValue(maxDays)}.`,
    );
  }
  const start = dayOf(from, "from");
  const end = dayOf(to, "to");
  if (end < start) {
    throw new InvalidOptionError(
      "to",
      `\`to\` ${isoDay(end)} is before \`from\` ${isoDay(start)}; swap them.`,
    );
  }
  const count = (end - start) / DAY_MS + 1;
  if (count > maxDays) {
    throw new InvalidOptionError(
      "to",
      `\`from\` ${isoDay(start)} \`to\` ${isoDay(end)} spans ${count} days, more than ` +
        `maxDays (${maxDays}). Check the years.`,
    );
  }
  return Array.from({ length: count }, (_, i) => isoDay(start + i * DAY_MS));
}

/** The UTC midnight of a `YYYY-MM-DD` string or a `Date`, in epoch ms. */
function dayOf(value: string | Date, option: "from" | "to"): number {
  if (value instanceof Date && !Number.isNaN(value.getTime())) {
    return Date.UTC(value.getUTCFullYear(), value.getUTCMonth(), value.getUTCDate());
  }
  const ms =
    typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)
      ? Date.parse(`${value}T00:00:00Z`)
      : Number.NaN;
  // Date.parse rolls 2024-02-30 over to March; reading the day back catches that.
  if (Number.isNaN(ms) || isoDay(ms) !== value) {
    throw new InvalidOptionError(
      option,
      `\`${option}\` expects a date as YYYY-MM-DD, got ${describeValue(value)}; e.g. 2024-01-31.`,
    );
  }
  return ms;
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
