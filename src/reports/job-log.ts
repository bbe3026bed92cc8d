import { parse } from "csv-parse/sync";
import ms from "ms";
import { InvalidOptionError } from "../core/errors.js";

/**
 * A job log a team already keeps, before it adopts waymark: one row per run of a job, with
 * when it started, how long it took, whether it failed and, where known, how far a failed run
 * got. CSV with a header line, or NDJSON (one JSON object per line). `advise --runs FILE`
 * decides from it.
 */

/** One run of the job, as the log tells it. */
export interface JobRun {
  readonly startedAt: number;
  readonly durationMs: number;
  readonly failed: boolean;
  /** How far a failed run got, 0..1; null where the log does not say. */
  readonly progress: number | null;
}

/** The logical columns a job log maps to its own: CSV headers or NDJSON field paths. */
export interface JobLogColumns {
  readonly start?: string;
  /** The end time; or `duration` (a number is seconds, or `30m`, `90s`), or `durationMs`. */
  readonly end?: string;
  readonly duration?: string;
  readonly durationMs?: string;
  readonly outcome?: string;
  readonly progress?: string;
}

/** Exports read by a preset instead of a column mapping. */
export type JobLogPreset = "kubernetes" | "cloud-run";

/** The columns a log without a mapping is read by: the first header present of each list. */
const DEFAULT_COLUMNS: Readonly<Record<keyof JobLogColumns, readonly string[]>> = {
  start: ["start", "started_at", "start_time", "startTime", "startedAt"],
  end: ["end", "finished_at", "end_time", "completion_time", "completionTime", "finishedAt"],
  duration: ["duration", "duration_s"],
  durationMs: ["duration_ms", "durationMs"],
  outcome: ["outcome", "status", "result"],
  progress: ["progress", "progress_at_failure"],
};

const SUCCESS = new Set(["completed", "complete", "succeeded", "success", "successful", "ok"]);
const FAILURE = new Set([
  "failed",
  "failure",
  "error",
  "errored",
  "timeout",
  "killed",
  "oomkilled",
]);

/** What a log row is: a finished run, or a run the log cannot judge (still running, say). */
type RowResult = JobRun | "unfinished";

/**
 * Reads a job log's text: NDJSON when its first character is `{`, else CSV. `columns` maps
 * the logical columns to the log's own, or names a preset; rows of runs still going are left
 * out and counted. A row it cannot read is an `InvalidOptionError` naming `--runs`, the line,
 * the column and the value.
 */
export function parseJobLog(
  text: string,
  file: string,
  columns: JobLogColumns | JobLogPreset = {},
): { runs: JobRun[]; unfinished: number } {
  const ndjson = text.trimStart().startsWith("{");
  const rows: Array<{ line: number; record: Record<string, unknown> }> = ndjson
    ? text.split("\n").flatMap((raw, i) => {
        if (raw.trim() === "") return [];
        try {
          return [{ line: i + 1, record: JSON.parse(raw) as Record<string, unknown> }];
        } catch {
          throw bad(file, i + 1, "is not a JSON object");
        }
      })
    : csvRows(text, file);
  const runs: JobRun[] = [];
  let unfinished = 0;
  for (const { line, record } of rows) {
    const where = (what: string) => bad(file, line, what);
    const row =
      typeof columns === "string"
        ? presetRow(columns, record, where)
        : mappedRow(columns, record, where);
    if (row === "unfinished") unfinished++;
    else runs.push(row);
  }
  return { runs, unfinished };
}

/** Reads CSV with a header line into records, each with the line it ends on. */
function csvRows(text: string, file: string) {
  try {
    const rows = parse(text, {
      columns: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      info: true,
    }) as Array<{ record: Record<string, string>; info: { lines: number } }>;
    return rows.map(({ record, info }) => ({ line: info.lines, record }));
  } catch (error) {
    const line = (error as { lines?: number }).lines ?? 1;
    throw bad(file, line, `is not CSV with a header line (${(error as Error).message})`);
  }
}

/** Builds the error for the row being read, from what is wrong with it. */
type Complaint = (what: string) => InvalidOptionError;

/** `column "value" why`: how a bad value is named. */
function badValue(column: string, value: unknown, why: string): string {
  return `${column} ${JSON.stringify(value)} ${why}`;
}

function mappedRow(
  columns: JobLogColumns,
  record: Record<string, unknown>,
  where: Complaint,
): RowResult {
  const get = (key: keyof JobLogColumns): [string, unknown] | null => {
    const names = columns[key] === undefined ? DEFAULT_COLUMNS[key] : [columns[key] as string];
    for (const name of names) {
      const value = valueAt(record, name);
      if (value !== undefined && value !== null && value !== "") return [name, value];
    }
    if (columns[key] !== undefined || key === "outcome" || key === "start") {
      const name = columns[key] ?? DEFAULT_COLUMNS[key].join(", ");
      throw where(
        `no ${key} (looked for ${name}); map the log's column with --columns ${key}=COLUMN`,
      );
    }
    return null;
  };
  const [outcomeName, outcomeValue] = get("outcome") as [string, unknown];
  const failed = outcomeOf(outcomeName, outcomeValue, where);
  if (failed === null) return "unfinished";
  const startedAt = timeOf(...(get("start") as [string, unknown]), where);
  const durationMs = durationOf(get, startedAt, where);
  const progress = get("progress");
  return {
    startedAt,
    durationMs,
    failed,
    progress: progress === null ? null : progressOf(...progress, where),
  };
}

/** Whether the run failed; null for a run that has not finished. */
function outcomeOf(column: string, value: unknown, where: Complaint): boolean | null {
  const word = String(value).trim().toLowerCase();
  if (SUCCESS.has(word) || word === "0") return false;
  if (FAILURE.has(word) || /^[1-9]\d*$/.test(word)) return true;
  if (word === "running" || word === "pending" || word === "active") return null;
  throw where(
    badValue(
      column,
      value,
      "is neither a success (completed, succeeded, success, ok, exit code 0) nor a failure " +
        "(failed, error, timeout, killed, a non-zero exit code)",
    ),
  );
}

function durationOf(
  get: (key: keyof JobLogColumns) => [string, unknown] | null,
  startedAt: number,
  where: Complaint,
): number {
  const end = get("end");
  if (end) return Math.max(0, timeOf(...end, where) - startedAt);
  const exact = get("durationMs");
  if (exact) return nonNegative(exact[0], Number(exact[1]), exact[1], where);
  const duration = get("duration");
  if (!duration) {
    throw where("no end time or duration; map one with --columns end=COLUMN or duration=COLUMN");
  }
  const [column, value] = duration;
  const text = String(value).trim();
  // A bare number is seconds, as job logs record them; `30m`, `90s`, `1.5h` say their unit.
  const parsed = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : ms(text as ms.StringValue);
  return nonNegative(column, parsed, value, where);
}

function nonNegative(column: string, n: number, value: unknown, where: Complaint): number {
  if (typeof n === "number" && Number.isFinite(n) && n >= 0) return n;
  throw where(badValue(column, value, "is not a duration: write seconds (1800) or 30m"));
}

/** An ISO 8601 time, or epoch seconds or milliseconds. */
function timeOf(column: string, value: unknown, where: Complaint): number {
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    const n = Number(text);
    return n < 1e11 ? n * 1000 : n; // 1e11 s is the year 5138; 1e11 ms is 1973
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) {
    throw where(
      badValue(column, value, "is not a time: write ISO 8601 (2024-06-01T06:00Z) or epoch seconds"),
    );
  }
  return at;
}

/** `66%`, `0.66` or `400/1000`, as a fraction 0..1. */
function progressOf(column: string, value: unknown, where: Complaint): number {
  const text = String(value).trim();
  const ratio = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(text);
  const n = text.endsWith("%")
    ? Number(text.slice(0, -1)) / 100
    : ratio
      ? Number(ratio[1]) / Number(ratio[2])
      : Number(text);
  if (Number.isFinite(n) && n >= 0 && n <= 1) return n;
  throw where(badValue(column, value, "is not a progress: write 66%, 0.66 or 400/1000"));
}

/**
 * Kubernetes: an item of `kubectl get jobs -o json` (`.items[]`, one per line). Its outcome is
 * its `Complete` or `Failed` condition; a job with neither is still running.
 * Cloud Run: an execution of `gcloud run jobs executions list --format=json` (one per line).
 * It failed when a task failed (`failedCount`), completed when one succeeded.
 */
function presetRow(
  preset: JobLogPreset,
  record: Record<string, unknown>,
  where: Complaint,
): RowResult {
  const conditions = (valueAt(record, "status.conditions") ?? []) as Array<
    Record<string, string | undefined>
  >;
  const condition = (type: string) =>
    Array.isArray(conditions) ? conditions.find((c) => c.type === type) : undefined;
  let failed: boolean;
  let end: unknown;
  if (preset === "kubernetes") {
    const done = [condition("Failed"), condition("Complete")].find((c) => c?.status === "True");
    if (!done) return "unfinished";
    failed = done.type === "Failed";
    end = valueAt(record, "status.completionTime") ?? done.lastTransitionTime;
  } else {
    const failedCount = Number(valueAt(record, "status.failedCount") ?? 0);
    const succeededCount = Number(valueAt(record, "status.succeededCount") ?? 0);
    const completed = condition("Completed")?.status;
    if (failedCount > 0 || completed === "False") failed = true;
    else if (succeededCount > 0 || completed === "True") failed = false;
    else return "unfinished";
    end = valueAt(record, "status.completionTime") ?? condition("Completed")?.lastTransitionTime;
  }
  const start = valueAt(record, "status.startTime");
  if (start === undefined || end === undefined) {
    throw where(`no status.startTime or end time in this ${preset} row: is it a ${preset} export?`);
  }
  const startedAt = timeOf("status.startTime", start, where);
  const durationMs = Math.max(0, timeOf("status.completionTime", end, where) - startedAt);
  return { startedAt, durationMs, failed, progress: null };
}

/** `record[a][b]…` for the path `a.b`; a CSV header with dots is read as a whole first. */
function valueAt(record: Record<string, unknown>, path: string): unknown {
  if (path in record) return record[path];
  let value: unknown = record;
  for (const key of path.split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function bad(file: string, line: number, what: string): InvalidOptionError {
  return new InvalidOptionError("--runs", `${file} line ${line}: ${what}.`);
}
