import type { RunStatus, SuspendReason } from "./types.js";

/**
 * Hooks a run calls for metrics and tracing (`prometheusMetrics`, `openTelemetryTracing`,
 * or your own). Every member is optional; a run without `metrics` calls nothing. A hook
 * that throws is logged and ignored: metrics never fail a run. Runs may share one object,
 * so events carry the `runId`.
 */
export interface RunMetrics {
  /** The run holds its lease and opened its checkpoint (fresh or resumed). */
  runStarted?(event: RunStartedEvent): void;
  /** A batch and its checkpoint committed. */
  batchCommitted?(event: BatchCommittedEvent): void;
  /** The run ended, whatever its status (also `busy`, which never starts). */
  runFinished?(event: RunFinishedEvent): void;
  /** Tokens of a quota were taken (before a batch, or by `ctx.quota(key).take`). */
  quotaTaken?(event: QuotaTakenEvent): void;
  /** A 429 (`RateLimitedError`) paused a quota key for every runner. */
  quotaPaused?(event: QuotaPausedEvent): void;
}

/** Identifies the run an event belongs to. */
export interface RunEventBase {
  readonly runId: string;
  readonly processor: string;
  readonly partition: string;
  /** The shard, when the run covers one (static, or split off a running partition). */
  readonly shard?: string | undefined;
}

/** See {@link RunMetrics.runStarted}. */
export interface RunStartedEvent extends RunEventBase {
  /** Entities already complete when the run resumed; null on a fresh start. */
  readonly resumedFrom: number | null;
  readonly total: number | null;
  readonly attempt: number;
}

/** See {@link RunMetrics.batchCommitted}. */
export interface BatchCommittedEvent extends RunEventBase {
  readonly entities: number;
  /** How long the checkpoint commit took. */
  readonly commitMs: number;
  readonly completed: number;
}

/** See {@link RunMetrics.runFinished}. */
export interface RunFinishedEvent extends RunEventBase {
  readonly status: RunStatus;
  readonly reason: SuspendReason | null;
  readonly processed: number;
  readonly resumedFrom: number | null;
  readonly batches: number;
  readonly durationMs: number;
  readonly checkpointMs: number;
  readonly error: Error | null;
}

/** See {@link RunMetrics.quotaTaken}. */
export interface QuotaTakenEvent extends RunEventBase {
  readonly key: string;
  readonly tokens: number;
  /** How long the take waited for its turn (or for a pause to end); 0 when it did not. */
  readonly waitedMs: number;
}

/** See {@link RunMetrics.quotaPaused}. */
export interface QuotaPausedEvent extends RunEventBase {
  readonly key: string;
  readonly retryAfterMs: number;
  /** When the pause ends, by the run's clock (epoch ms). */
  readonly pausedUntil: number;
}
