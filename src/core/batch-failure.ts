import { FencedError, StoreError, WaymarkError } from "./errors.js";
import { permanentError } from "./policies/permanent.js";
import type { RetryPolicy } from "./policies/retry.js";

/**
 * How a failed attempt at a batch is handled, decided in one place for an error thrown by
 * `processBatch` and for one raised by the batch's commit, on every store:
 *
 * - `fenced`: another runner took the lease over. Never retried or skipped; the run ends
 *   `failed` with code `FENCED`.
 * - `store`: the store could not be reached or was busy (`STORE_UNAVAILABLE`). Retried under
 *   the retry policy's attempts and backoff, whatever `retryable` says; never skipped, since no
 *   entity is to blame.
 * - `batch`: the batch's own failure: an error from `processBatch`, or a statement written
 *   through `ctx.tx` that failed at commit (a constraint, bad SQL). Retried when `retryable`
 *   says it is transient, or without one unless it is a database's permanent error
 *   (policies/permanent.ts); with `skip`, bisected to find the entities that cause it.
 * - `fatal`: waymark refused something (state that cannot be saved, a corrupt checkpoint, a
 *   full disk). Never retried or skipped.
 */
export type BatchFailure = "fenced" | "store" | "batch" | "fatal";

/** Store errors worth trying again: the store may answer the next attempt. */
const TRANSIENT_STORE_CODES = new Set<string>(["STORE_UNAVAILABLE", "STORE_TIMEOUT"]);

/** Classifies the error of one failed attempt at a batch. */
function batchFailure(error: unknown): BatchFailure {
  if (error instanceof FencedError) return "fenced";
  if (error instanceof StoreError && TRANSIENT_STORE_CODES.has(error.code)) return "store";
  // waymark raised it, but the batch is what took too long: an attempt like any other.
  if (error instanceof WaymarkError && error.code === "BATCH_TIMEOUT") return "batch";
  if (error instanceof WaymarkError) return "fatal";
  return "batch";
}

/**
 * Why a failed attempt is not tried again under `policy` (attempts left aside), or null when
 * it is: the reason a log line gives.
 */
export function whyNotRetried(policy: RetryPolicy, error: Error): string | null {
  const kind = batchFailure(error);
  if (kind === "store") return null;
  if (kind !== "batch") return `${error.name} is waymark's own refusal`;
  if (policy.retryable === null) {
    const permanent = permanentError(error);
    return permanent === null ? null : `${permanent} is permanent; \`retryable\` overrides`;
  }
  try {
    return policy.retryable(error) ? null : "retryable() said it is permanent";
  } catch {
    return "retryable() threw, which counts as permanent";
  }
}

/** Whether bisection may put the entities behind this error in the failure ledger. */
export function isSkippable(error: unknown): boolean {
  return batchFailure(error) === "batch";
}

/**
 * Whether a failed store write may have landed (the runner then reads it back, see
 * store/guarded-store.ts), decided here and nowhere else:
 * - `fenced`: the lease was lost; nothing was written;
 * - `indeterminate`: the store failed (connection, I/O, full disk): the write may have landed;
 * - `not-landed`: the store refused the write or the batch's own statements failed (a
 *   `ctx.tx` statement, a constraint): the transaction was rolled back. So is a write that
 *   never reached the store (a connection that was never made) or was cancelled before it
 *   finished: the store says so (`StoreError.nothingLanded`).
 */
export type WriteFailure = "fenced" | "indeterminate" | "not-landed";

/** Store errors after which a write may or may not have landed: read it back. */
const INDETERMINATE = new Set<string>([
  "STORE_UNAVAILABLE",
  "STORE_IO_ERROR",
  "STORE_FULL",
  // Cancelled at the run's end: it stopped, but may have committed just before the cancel.
  "STORE_TIMEOUT",
]);

/** Classifies the error of a store write (commit, completion, acquire). */
export function classifyWriteError(error: unknown): WriteFailure {
  if (error instanceof FencedError) return "fenced";
  if (isStoreFailure(error) && !(error as StoreError).nothingLanded) return "indeterminate";
  return "not-landed";
}

/**
 * Whether the store itself failed (unreachable, an I/O error, out of time), rather than refused
 * the call: asking again may get an answer. A read-back goes on asking after such a failure,
 * even one that landed nothing, since its question is still open.
 */
export function isStoreFailure(error: unknown): boolean {
  return error instanceof StoreError && INDETERMINATE.has(error.code);
}
