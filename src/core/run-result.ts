import type { Cursor, RunStatus, SuspendReason } from "./types.js";

/**
 * What `run` resolves to. A run never rejects for a failed batch: look at `status`. `S` is the
 * processor's state type.
 */
export interface RunResult<S = unknown> {
  readonly runId: string;
  readonly status: RunStatus;
  /** Why the run stopped early, when `status` is `suspended`. */
  readonly reason?: SuspendReason;
  /** Entities this run processed. */
  readonly processed: number;
  /** Entities this run skipped as failed (see the failure ledger). */
  readonly skipped: number;
  /** Entities already complete when this run resumed from a checkpoint; null on a fresh start. */
  readonly resumedFrom: number | null;
  /** Entities complete in the partition, across resumes. */
  readonly completed: number;
  readonly total: number | null;
  readonly batches: number;
  readonly durationMs: number;
  /** Time spent committing checkpoints. */
  readonly checkpointMs: number;
  /** The last committed cursor. */
  readonly cursor: Cursor | null;
  /**
   * The last committed state: after a completed run, the state its last batch committed (its
   * checkpoint is gone, the state is here); after a failure or suspension, the state the
   * checkpoint holds. Undefined for a run that never opened its checkpoint (`busy`, `skipped`).
   */
  readonly state: S | undefined;
  /**
   * True when the run suspended before committing any batch: starting it again at once
   * would likely do the same (an open circuit breaker, a signal, a deadline too close).
   */
  readonly noProgress?: true;
  readonly error?: Error;
}
