/**
 * Terminology: the words of waymark's API, CLI and docs, each with one meaning.
 *
 * - processor: a named, versioned unit of work: where its entities come from and how one
 *   batch is processed.
 * - partition: the slice one run covers, a string (`2024-01-15`, a tenant, `default`).
 * - shard: one range of a partition's cursor space with a checkpoint of its own, so that
 *   several workers can share one large partition.
 * - entity: one item of work; its id is its cursor value.
 * - cursor: the id of the last entity a committed batch finished. Entities arrive in
 *   ascending cursor order.
 * - batch: consecutive entities processed together and committed together.
 * - checkpoint: the committed progress of one (processor, partition): cursor, completed
 *   count, total, state, lease.
 * - state: user data saved atomically with the checkpoint.
 * - run: one invocation of a processor on a partition.
 * - lease: the right of one runner to advance a checkpoint; it carries a fencing token.
 * - store: where checkpoints, leases and run history live.
 */

/** The id of an entity. Numbers compare numerically, strings by UTF-16 code units. */
export type Cursor = string | number;

/** Whether `value` can be a cursor: a string or a finite number. */
export function isCursor(value: unknown): value is Cursor {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

/**
 * How a run ended. A run whose lease another runner took over (fenced) ends `failed` with an
 * error whose `code` is `FENCED`: it committed nothing after losing the lease.
 */
export type RunStatus = "completed" | "suspended" | "failed" | "busy" | "skipped";

/** A run's status as stored in history, including the in-flight `running`. */
export type RecordedRunStatus = RunStatus | "running";

/**
 * Why a run stopped early with `suspended`; `rate-limited` when a quota's pause (or its wait
 * for tokens) would outlast the run's deadline.
 */
export type SuspendReason = "deadline" | "signal" | "circuit-open" | "rate-limited";

/** A log line's severity, least first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Fields a log line carries besides its message: `processor`, `partition`, `runId`, yours. */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/** Something that can log: the console, pino, winston, or your own. */
export interface Logger {
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
  /**
   * A logger whose lines carry `fields` too. Optional: a run binds its processor, partition
   * and run id through it when the logger has it (waymark's own loggers, pino).
   */
  child?(fields: LogFields): Logger;
}

/**
 * Identifies one checkpoint: a processor on a partition, or on one shard of it. Shards are
 * their own field, so a partition name may contain any character (`ticket#42` is a plain
 * partition).
 */
export interface CheckpointKey {
  readonly processor: string;
  readonly partition: string;
  /** The shard's id as text; `""` for a checkpoint that covers the whole partition. */
  readonly shard: string;
}
