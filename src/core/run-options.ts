import { z } from "zod";
import { InvalidOptionError } from "./errors.js";
import { consoleLogger, isLogger, logFormat, silentLogger } from "./logger.js";
import type { RunMetrics } from "./metrics-hooks.js";
import { batchTimeoutSchema } from "./policies/batch-timeout.js";
import { breakerSchema, type CircuitBreakerLike } from "./policies/breaker.js";
import { deadlineSchemas } from "./policies/deadline.js";
import { type QuotaOptions, quotaSchema } from "./policies/quota-options.js";
import { sleep } from "./policies/retry.js";
import type { RunStore } from "./store/checkpoint-store.js";
import type { Cursor, Logger } from "./types.js";
import { fn, parseOptions } from "./validate.js";

/** Progress after a committed batch, as `onProgress` receives it. */
export interface RunProgress {
  readonly processor: string;
  readonly partition: string;
  /** The shard, when the run covers one (static, or split off a running partition). */
  readonly shard?: string | undefined;
  /** Entities complete in the partition, across resumes. */
  readonly completed: number;
  readonly total: number | null;
  /** Entities processed by this run. */
  readonly processed: number;
  readonly batches: number;
  readonly resumedFrom: number | null;
  readonly cursor: Cursor | null;
  readonly elapsedMs: number;
}

/**
 * Options of `run`. `Tx` is the `ctx.tx` handle the processor needs: the store must provide
 * it (a `SqliteStore` provides `SqliteTx`), which `run` checks at compile time.
 */
export interface RunOptions<Tx = unknown> {
  /** Where checkpoints, leases and history live. */
  store: RunStore<Tx>;
  /** The slice this run covers. @default "default" */
  partition?: string;
  /** Where log lines go; `false` for none. @default the console */
  logger?: Logger | false;
  /** Least time between two `Progress:` log lines; 0 logs every batch. @default 1000 */
  progressEveryMs?: number;
  /** Called after every committed batch (progress bars, metrics, tests). */
  onProgress?: (progress: RunProgress) => void;
  /**
   * Show progress on stderr: a bar (completed/total, rate, ETA, resumed-from) in a terminal,
   * plain lines every 10 s otherwise; honours `NO_COLOR`. Replaces the logger's `Progress:`
   * lines. @default false
   */
  progress?: boolean;
  /**
   * Metrics and tracing hooks, e.g. `prometheusMetrics(registry)` or
   * `openTelemetryTracing()`; an array combines several. @default none (nothing is called)
   */
  metrics?: RunMetrics | readonly RunMetrics[];
  /** Aborting it stops the run at the next batch boundary with `suspended` (`reason: "signal"`). */
  signal?: AbortSignal;
  /**
   * Which shard of the partition to run, by the id the processor's `shards` gave it; the
   * shard has a checkpoint of its own. Required when the processor defines `shards`.
   * @default none (the whole partition)
   */
  shard?: string | number;
  /** The clock, in epoch ms. Tests and simulations replace it. @default Date.now */
  now?: () => number;
  /**
   * When the run must be done (a Date or epoch ms). A batch that would likely end past
   * `deadline - deadlineMarginMs` is not started: the run returns `suspended` with
   * `reason: "deadline"`; at the deadline itself `ctx.signal` aborts and that batch is not
   * committed. See `cloudRunDeadline` and `lambdaDeadline`.
   */
  deadline?: Date | number;
  /** A deadline relative to the start of the run, in ms (the earlier of the two wins). */
  timeBudgetMs?: number;
  /** Time kept free before the deadline for the commit, release and exit. @default 1000 */
  deadlineMarginMs?: number;
  /**
   * Stop on SIGTERM/SIGINT: the run finishes the batch in flight (up to `shutdownGraceMs`,
   * then aborts it), commits, releases the lease and returns `suspended` with
   * `reason: "signal"`. Listeners are removed when the run ends. @default false
   */
  handleSignals?: boolean;
  /** How long the batch in flight may go on after SIGTERM/SIGINT. @default 5000 */
  shutdownGraceMs?: number;
  /**
   * How long one call of `processBatch` may take before it is aborted and counts as a failed
   * attempt; overrides the processor's `batchTimeoutMs`. @default the processor's (none)
   */
  batchTimeoutMs?: number;
  /** A circuit breaker for this run; overrides the processor's `breaker`. */
  breaker?: CircuitBreakerLike;
  /** Shared rate limits for this run; override the processor's `quota`. */
  quota?: QuotaOptions | readonly QuotaOptions[];
  /**
   * Waits between retries; rejects with `signal.reason` when the signal aborts. Tests and
   * simulations replace it. @default a setTimeout-based wait
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** {@link RunOptions} with defaults filled in. */
export interface ResolvedRunOptions {
  readonly store: RunStore;
  readonly partition: string;
  readonly logger: Logger;
  readonly progressEveryMs: number;
  readonly onProgress: ((progress: RunProgress) => void) | undefined;
  readonly signal: AbortSignal | undefined;
  readonly shard: string | number | undefined;
  readonly progress: boolean;
  readonly metrics: readonly RunMetrics[] | undefined;
  readonly now: () => number;
  readonly deadline: Date | number | undefined;
  readonly timeBudgetMs: number | undefined;
  readonly deadlineMarginMs: number;
  readonly handleSignals: boolean;
  readonly shutdownGraceMs: number;
  readonly batchTimeoutMs: number | undefined;
  readonly breaker: CircuitBreakerLike | undefined;
  readonly quota: QuotaOptions | readonly QuotaOptions[] | undefined;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

const PARTITION_RULE =
  "use 1-256 characters with no control characters, unpaired surrogates or surrounding spaces, e.g. 2024-01-15";

/**
 * A partition name: 1-256 characters, no control characters (NUL among them, which PostgreSQL
 * cannot store), no unpaired UTF-16 surrogates (which the SQL drivers would replace) and no
 * surrounding spaces. A space at either end is refused rather than trimmed: `" lead"` and
 * `"lead"` would be two checkpoints, and one entry point trimming while another did not would
 * split a partition.
 */
export const partitionSchema = z
  .string({ error: `expected a string; ${PARTITION_RULE}` })
  .min(1, { error: `expected a non-empty partition; ${PARTITION_RULE}` })
  .max(256, { error: `the partition is too long; ${PARTITION_RULE}` })
  .refine((s) => !/[\p{Cc}\p{Cs}]/u.test(s), { error: PARTITION_RULE })
  .refine((s) => s.trim() === s, { error: `it has surrounding spaces; ${PARTITION_RULE}` });

const runOptionsSchema = z.strictObject({
  store: z.custom<RunStore>((v) => typeof (v as RunStore | null)?.acquire === "function", {
    error: 'expected a store; open one with await openStore("sqlite:.waymark/waymark.db")',
  }),
  partition: partitionSchema.optional(),
  logger: z
    .custom<Logger | false>((v) => v === false || isLogger(v), {
      error: "expected false or an object with debug, info, warn and error methods",
    })
    .optional(),
  progressEveryMs: z
    .number({ error: "expected milliseconds from 0 up, e.g. 1000" })
    .min(0, { error: "expected milliseconds from 0 up, e.g. 1000" })
    .optional(),
  onProgress: fn("expected a function (progress) => void").optional(),
  metrics: z
    .custom<RunMetrics | readonly RunMetrics[]>(
      (v) => (Array.isArray(v) ? v.every(isMetrics) : isMetrics(v)),
      { error: "expected hooks such as prometheusMetrics(registry), or an array of them" },
    )
    .optional(),
  progress: z.boolean({ error: "expected true or false" }).optional(),
  signal: z
    .custom<AbortSignal>((v) => v instanceof AbortSignal, {
      error: "expected an AbortSignal, e.g. new AbortController().signal",
    })
    .optional(),
  now: fn("expected a function returning epoch milliseconds, like Date.now").optional(),
  shard: z
    .custom<string | number>(
      (v) => typeof v === "string" || (typeof v === "number" && Number.isFinite(v)),
      { error: "expected a shard id (a string or number) that the processor's shards() returns" },
    )
    .optional(),
  deadline: deadlineSchemas.deadline.optional(),
  timeBudgetMs: deadlineSchemas.timeBudgetMs.optional(),
  deadlineMarginMs: deadlineSchemas.deadlineMarginMs.optional(),
  handleSignals: z.boolean({ error: "expected true or false" }).optional(),
  shutdownGraceMs: z
    .number({ error: "expected milliseconds from 0 up, e.g. 5000" })
    .min(0, { error: "expected milliseconds from 0 up, e.g. 5000" })
    .optional(),
  batchTimeoutMs: batchTimeoutSchema.optional(),
  breaker: breakerSchema.optional(),
  quota: quotaSchema.optional(),
  sleep: fn("expected a function (ms, signal) => Promise<void>").optional(),
});

/** The time a run keeps free before its deadline unless `deadlineMarginMs` says otherwise. */
export const DEFAULT_DEADLINE_MARGIN_MS = 1000;

/** Validates `run`'s options, fills defaults and freezes the result. */
export function resolveRunOptions(
  input: RunOptions<unknown>,
  where: "run" | "runPartitions" | "redrive" = "run",
): ResolvedRunOptions {
  const options = parseOptions(runOptionsSchema, input, where) as RunOptions;
  const deadlineMarginMs = options.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS;
  if (options.timeBudgetMs !== undefined && options.timeBudgetMs <= deadlineMarginMs) {
    throw new InvalidOptionError(
      "timeBudgetMs",
      `Expected \`timeBudgetMs\` (${options.timeBudgetMs} ms) to be longer than ` +
        `\`deadlineMarginMs\` (${deadlineMarginMs} ms${options.deadlineMarginMs === undefined ? ", the default" : ""}): ` +
        "every run would suspend before its first batch, forever. Raise timeBudgetMs above " +
        `${deadlineMarginMs}, or lower deadlineMarginMs below ${options.timeBudgetMs}.`,
    );
  }
  if (options.logger === undefined) logFormat(); // the default logger: WAYMARK_LOG must be valid
  return Object.freeze({
    store: options.store,
    partition: options.partition ?? "default",
    logger: options.logger === false ? silentLogger : (options.logger ?? consoleLogger),
    progressEveryMs: options.progressEveryMs ?? 1000,
    onProgress: options.onProgress,
    signal: options.signal,
    shard: options.shard,
    progress: options.progress ?? false,
    metrics: options.metrics === undefined ? undefined : [options.metrics].flat(),
    now: options.now ?? Date.now,
    deadline: options.deadline,
    timeBudgetMs: options.timeBudgetMs,
    deadlineMarginMs,
    handleSignals: options.handleSignals ?? false,
    shutdownGraceMs: options.shutdownGraceMs ?? 5000,
    batchTimeoutMs: options.batchTimeoutMs,
    breaker: options.breaker,
    quota: options.quota,
    sleep: options.sleep ?? sleep,
  });
}

function isMetrics(value: unknown): value is RunMetrics {
  const candidate = value as Record<string, unknown> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    ["runStarted", "batchCommitted", "runFinished", "quotaTaken", "quotaPaused"].some(
      (m) => typeof candidate[m] === "function",
    )
  );
}
