import { format } from "node:util";
import { describeKey } from "./checkpoint-key.js";
import { InvalidOptionError } from "./errors.js";
import type { LogFields, Logger, LogLevel } from "./types.js";

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Whether `value` is a {@link Logger}: an object with debug, info, warn and error methods. */
export function isLogger(value: unknown): value is Logger {
  const candidate = value as Record<string, unknown> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    LEVELS.every((level) => typeof candidate[level] === "function")
  );
}

/** On waymark's own loggers: whether they write debug lines now (see {@link writesDebug}). */
const WRITES_DEBUG = Symbol("waymark.writesDebug");

/** Options of {@link jsonLogger}. */
export interface JsonLoggerOptions {
  /**
   * The least level written.
   * @default "debug" when WAYMARK_DEBUG is set, else "info"
   */
  readonly level?: LogLevel;
  /** Where each line goes. @default process.stderr */
  readonly write?: (line: string) => void;
  /** Fields every line carries, e.g. `{ service: "nightly" }`. */
  readonly fields?: LogFields;
  /** The clock of the `time` field. @default Date.now */
  readonly now?: () => number;
}

/**
 * A logger that writes one JSON object per line, for log collectors: `level`, `time` (ISO
 * 8601), `message`, and the run's `processor`, `partition` and `runId` when it logs for a run.
 *
 * @example
 * await run(summaries, { store, logger: jsonLogger() });
 * // {"level":"info","time":"2024-01-15T06:00:01.250Z","message":"Completed …","processor":"player-game-summary","partition":"2024-01-15","runId":"…"}
 */
export function jsonLogger(options: JsonLoggerOptions = {}): Logger {
  const least = LEVELS.indexOf(options.level ?? (debugEnabled() ? "debug" : "info"));
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? Date.now;
  const make = (fields: LogFields): Logger => {
    const line =
      (level: LogLevel) =>
      (message: string, ...args: unknown[]): void => {
        if (LEVELS.indexOf(level) < least) return;
        const time = new Date(now()).toISOString();
        write(`${JSON.stringify({ level, time, message: format(message, ...args), ...fields })}\n`);
      };
    return markDebug(
      { ...levels(line), child: (more) => make({ ...fields, ...more }) },
      // An unknown level (-1) filters nothing out.
      () => least <= 0,
    );
  };
  return make(options.fields ?? {});
}

/**
 * The default logger: `[waymark] message` lines on stderr, so that a command's output on
 * stdout stays clean; one JSON object per line instead when `WAYMARK_LOG=json`
 * ({@link jsonLogger}); debug lines (lease renewals, commits and their duration, retries,
 * stop decisions) only when `WAYMARK_DEBUG=1`. The variables are read at each line.
 */
export const consoleLogger: Logger = textOrJson({});

function textOrJson(fields: LogFields): Logger {
  const line =
    (level: LogLevel) =>
    (message: string, ...args: unknown[]): void => {
      // An invalid WAYMARK_LOG is refused where runs and commands start; here it means text.
      if (safeLogFormat() === "json") {
        jsonLogger({ fields })[level](message, ...args);
        return;
      }
      if (level === "debug" && !debugEnabled()) return;
      process.stderr.write(textLine(fields, format(message, ...args)));
    };
  return markDebug(
    { ...levels(line), child: (more) => textOrJson({ ...fields, ...more }) },
    // Both formats drop debug lines unless WAYMARK_DEBUG asks for them.
    () => debugEnabled(),
  );
}

/**
 * A line as waymark's text loggers write it: `[waymark] message`, with the run's checkpoint
 * (`visits/2024-01-15`) in front when the line is a run's and does not name it already, so
 * that the lines of runs a backfill interleaves (`--concurrency`) tell which is which.
 */
export function textLine(fields: LogFields, message: string): string {
  const { processor, partition, shard } = fields;
  if (typeof processor !== "string" || typeof partition !== "string") {
    return `[waymark] ${message}\n`;
  }
  const label = describeKey({ processor, partition, shard: shard == null ? "" : String(shard) });
  return `[waymark] ${message.includes(label) ? "" : `${label}: `}${message}\n`;
}

/** A logger that says nothing: `run(p, { logger: silentLogger })` or `logger: false`. */
export const silentLogger: Logger = markDebug(
  {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: () => {},
  },
  () => false,
);

/** A logger's four level methods, each writing through `line(level)`. */
function levels(line: (level: LogLevel) => Logger["debug"]): Omit<Logger, "child"> {
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

/** Tags one of waymark's own loggers with whether it writes debug lines now. */
function markDebug(logger: Logger, writesDebug: () => boolean): Logger {
  Object.defineProperty(logger, WRITES_DEBUG, { value: writesDebug });
  return logger;
}

/**
 * Whether `logger.debug` would write a line now: false only for waymark's own loggers with
 * debug off; any other logger decides for itself. The runner asks before building a debug
 * line it would write once per batch, whose text costs about as much as a batch's own work.
 */
export function writesDebug(logger: Logger): boolean {
  const check = (logger as { [WRITES_DEBUG]?: () => boolean })[WRITES_DEBUG];
  return check === undefined || check();
}

/**
 * The logger for one run or command: `logger.child(fields)` when the logger has one (waymark's
 * own loggers, pino), so that every line carries the fields; the logger itself otherwise.
 */
export function withLogFields(logger: Logger, fields: LogFields): Logger {
  return logger.child ? logger.child(fields) : logger;
}

/** Whether `WAYMARK_DEBUG` asks for debug lines (set, and not `0` or `false`). */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.WAYMARK_DEBUG?.trim().toLowerCase();
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

function safeLogFormat(): "text" | "json" {
  try {
    return logFormat();
  } catch {
    return "text";
  }
}

/** `WAYMARK_LOG`: `text` (the default) or `json`; anything else is refused, naming it. */
export function logFormat(env: NodeJS.ProcessEnv = process.env): "text" | "json" {
  const value = env.WAYMARK_LOG?.trim().toLowerCase() ?? "";
  if (value === "" || value === "text") return "text";
  if (value === "json") return "json";
  throw new InvalidOptionError(
    "WAYMARK_LOG",
    `Invalid WAYMARK_LOG=${JSON.stringify(env.WAYMARK_LOG)}: expected "json" for one JSON ` +
      'object per line, or "text" (the default).',
  );
}
