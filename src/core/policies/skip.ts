import { z } from "zod";
import { integerFrom } from "../validate.js";

/**
 * Skipping entities that fail every attempt: the batch is bisected to find them, they go to
 * the failure ledger (see `waymark failures` and `waymark redrive`) and the run goes on.
 *
 * @example
 * skip: { limit: 10 } // up to 10 poisoned entities per run; the 11th fails the run
 */
export interface SkipOptions {
  /** The most entities one run may skip; one more fails the run. */
  limit: number;
  /**
   * Retry each part of the batch with the retry policy while bisecting, so that a transient
   * error during the search does not put a healthy entity in the ledger. Costs the backoff
   * delays on every failing part. @default false
   */
  retryable?: boolean;
}

/** The zod schema of the `skip` processor option. */
export const skipSchema = z.strictObject(
  {
    limit: integerFrom(0, "pass the most entities a run may skip, e.g. 10"),
    retryable: z.boolean({ error: "expected true or false" }).optional(),
  },
  { error: "expected { limit, retryable? }, e.g. { limit: 10 }" },
);

/** What bisection needs from the runner. */
export interface Bisection<E> {
  /**
   * Processes and commits `part` (with any failures recorded so far); resolves to null on
   * success or to the error that made it fail (nothing of it committed). Errors that must not
   * be skipped (a lost lease, a stop) are thrown instead.
   */
  tryPart(part: E[]): Promise<Error | null>;
  /** Records one entity that failed on its own, after `failedCalls` failing calls with it. */
  failed(entity: E, error: Error, failedCalls: number): void;
}

/**
 * Finds the failing entities of a batch that already failed as a whole, committing the parts
 * that succeed, in cursor order. A part whose sibling on the left succeeded is known to fail
 * and is split without being tried, so k poisoned entities among n cost about
 * k·log2(n) calls rather than n. A single entity is always tried on its own before it is
 * recorded, so a transient error can never land a healthy entity in the ledger unseen.
 */
export async function bisect<E>(
  batch: E[],
  batchError: Error,
  batchCalls: number,
  bisection: Bisection<E>,
): Promise<void> {
  if (batch.length === 1) {
    bisection.failed(batch[0] as E, batchError, batchCalls);
    return;
  }
  await split(batch, batchCalls, bisection);
}

/** Whether `part` held a failing entity. */
async function search<E>(
  part: E[],
  knownToFail: boolean,
  failedCalls: number,
  bisection: Bisection<E>,
): Promise<boolean> {
  if (part.length > 1 && knownToFail) {
    await split(part, failedCalls, bisection);
    return true;
  }
  const error = await bisection.tryPart(part);
  if (error === null) return false;
  if (part.length === 1) bisection.failed(part[0] as E, error, failedCalls + 1);
  else await split(part, failedCalls + 1, bisection);
  return true;
}

async function split<E>(part: E[], failedCalls: number, bisection: Bisection<E>): Promise<void> {
  const middle = Math.ceil(part.length / 2);
  const leftFailed = await search(part.slice(0, middle), false, failedCalls, bisection);
  await search(part.slice(middle), !leftFailed, failedCalls, bisection);
}
