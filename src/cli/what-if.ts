import ms from "ms";
import { InvalidOptionError } from "../core/errors.js";
import type { StatedFigures } from "../reports/advise-before.js";
import type { JobLogColumns, JobLogPreset } from "../reports/job-log.js";

/** The keys `--what-if` takes, and the figure each states. */
const WHAT_IF_KEYS = {
  duration: "durationMs",
  "failure-rate": "failureRate",
  "fail-at": "failAt",
  "weekly-runs": "weeklyRuns",
  overhead: "overhead",
} as const satisfies Record<string, keyof StatedFigures>;

const WHAT_IF_EXAMPLE = "duration=30m,failure-rate=10%,fail-at=66%,weekly-runs=50,overhead=0.5%";

/**
 * `--what-if duration=30m,failure-rate=10%,fail-at=66%,weekly-runs=50,overhead=0.5%` as stated
 * figures. A duration needs its unit; a share is `10%` or a fraction such as `0.1`.
 */
export function parseWhatIf(value: string): StatedFigures {
  const stated: Record<string, number> = {};
  for (const pair of value.split(",")) {
    const [key = "", figure, ...more] = pair.split("=").map((part) => part.trim());
    if (!(key in WHAT_IF_KEYS) || figure === undefined || more.length > 0) {
      throw whatIfError(
        `${JSON.stringify(pair)} is not KEY=VALUE with a key of ` +
          `${Object.keys(WHAT_IF_KEYS).join(", ")}`,
      );
    }
    const name = WHAT_IF_KEYS[key as keyof typeof WHAT_IF_KEYS];
    stated[name] =
      key === "duration"
        ? durationFigure(key, figure)
        : key === "weekly-runs"
          ? positiveFigure(key, figure)
          : shareFigure(key, figure);
  }
  return stated;
}

function durationFigure(key: string, figure: string): number {
  const parsed = /^\d+(\.\d+)?$/.test(figure) ? Number.NaN : ms(figure as ms.StringValue);
  if (typeof parsed === "number" && parsed > 0) return parsed;
  throw whatIfError(`${key}=${figure} is not a duration with its unit, e.g. ${key}=30m or 45s`);
}

function positiveFigure(key: string, figure: string): number {
  const n = Number(figure);
  if (figure !== "" && Number.isFinite(n) && n > 0) return n;
  throw whatIfError(`${key}=${figure} is not a positive number, e.g. ${key}=50`);
}

/** `10%` or `0.1`; a bare number over 1 is refused rather than guessed to be a percent. */
function shareFigure(key: string, figure: string): number {
  const n = figure.endsWith("%") ? Number(figure.slice(0, -1)) / 100 : Number(figure);
  if (figure !== "" && Number.isFinite(n) && n >= 0 && n <= 1) return n;
  throw whatIfError(`${key}=${figure} is not a share: write a percent (${key}=10%) or 0.1`);
}

function whatIfError(what: string): InvalidOptionError {
  return new InvalidOptionError(
    "--what-if",
    `Invalid --what-if: ${what}; e.g. ${WHAT_IF_EXAMPLE}.`,
  );
}

/** The figures a what-if without a job log must state. */
export function requireStated(
  stated: StatedFigures,
): Required<Pick<StatedFigures, "durationMs" | "failureRate" | "weeklyRuns">> & StatedFigures {
  const missing = (["duration", "failure-rate", "weekly-runs"] as const).filter(
    (key) => stated[WHAT_IF_KEYS[key]] === undefined,
  );
  if (missing.length > 0) {
    throw whatIfError(`it needs ${missing.join(", ")} (or --runs FILE to measure them)`);
  }
  return stated as Required<Pick<StatedFigures, "durationMs" | "failureRate" | "weeklyRuns">>;
}

const COLUMN_KEYS = {
  start: "start",
  end: "end",
  duration: "duration",
  "duration-ms": "durationMs",
  outcome: "outcome",
  progress: "progress",
} as const satisfies Record<string, keyof JobLogColumns>;

/**
 * `--columns kubernetes`, `--columns cloud-run`, or a mapping of the log's own columns:
 * `start=StartTime,end=EndTime,outcome=Status,progress=Done` (NDJSON: field paths such as
 * `status.startTime`).
 */
export function parseColumns(value: string | undefined): JobLogColumns | JobLogPreset {
  if (value === undefined) return {};
  if (value === "kubernetes" || value === "cloud-run") return value;
  const columns: Record<string, string> = {};
  for (const pair of value.split(",")) {
    const [key = "", column, ...more] = pair.split("=").map((part) => part.trim());
    if (!(key in COLUMN_KEYS) || !column || more.length > 0) {
      throw new InvalidOptionError(
        "--columns",
        `Invalid --columns: ${JSON.stringify(pair)} is not KEY=COLUMN with a key of ` +
          `${Object.keys(COLUMN_KEYS).join(", ")}; or name a preset, kubernetes or cloud-run. ` +
          "E.g. --columns start=StartTime,end=EndTime,outcome=Status.",
      );
    }
    columns[COLUMN_KEYS[key as keyof typeof COLUMN_KEYS]] = column;
  }
  return columns;
}
