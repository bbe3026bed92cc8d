import ms from "ms";
import { InvalidOptionError } from "../core/errors.js";

/**
 * Parses a CLI duration such as `7d`, `24h`, `90m`, `30s` or `1500` (milliseconds) with the
 * `ms` package, or throws an `InvalidOptionError` naming the option, the value and the fix.
 */
export function parseDuration(value: string, option: string): number {
  let parsed: number | undefined;
  try {
    parsed = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : ms(value as ms.StringValue);
  } catch {
    // ms throws on an empty string; it is reported like any other unreadable duration.
  }
  if (typeof parsed !== "number" || !Number.isFinite(parsed) || parsed <= 0) {
    throw new InvalidOptionError(
      option,
      `Invalid ${option} ${JSON.stringify(value)}: expected a positive duration such as 7d, ` +
        "24h, 90m or 30s.",
    );
  }
  return parsed;
}

/** Entities per second as `12.3/s`, or `-` when unknown. */
export function formatRate(perSecond: number | null): string {
  if (perSecond === null) return "-";
  return perSecond >= 100 ? `${Math.round(perSecond)}/s` : `${perSecond.toFixed(1)}/s`;
}
