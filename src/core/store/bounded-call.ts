import { performance } from "node:perf_hooks";
import { describeKey } from "../checkpoint-key.js";
import { StoreError } from "../errors.js";
import { type RunBound, WIND_UP_MS } from "../policies/store-bound.js";
import type { CheckpointKey } from "../types.js";
import type { CallBound } from "./run-store.js";

/**
 * One store call of a run within the time the run has left (see policies/store-bound.ts), as
 * {@link GuardedStore} makes them. The call carries the bound, for the store to give up in time
 * (and cancel its work where it can); the run stops waiting for it at the bound's end. A call
 * cut short there gets the run's wind-up to say what became of it, since the store cancels it
 * on that signal; past the wind-up it is `OUTCOME_UNKNOWN`. A call with no time left is not
 * made: `STORE_TIMEOUT`, nothing landed.
 *
 * `what` and `key` name the call in messages (`the checkpoint commit of orders/2024-01-15`);
 * `share` gives it at most that share of the time left, so that the calls after it keep the
 * rest; `boundNow` is the run's bound of a call made now (the wind-up, once the run was cut).
 */
export async function callWithin<T>(
  runBound: RunBound,
  boundNow: (() => RunBound | null) | undefined,
  what: string,
  key: CheckpointKey | null,
  call: (bound?: CallBound) => Promise<T>,
  share: number,
): Promise<T> {
  if (runBound.endsAt <= performance.now()) throw noTimeLeft(what, key);
  const bound = share < 1 ? runBound.share(share) : runBound;
  const work = call(bound);
  try {
    return await bound.race(work);
  } catch (error) {
    if (!cutShort(bound, error)) throw error;
  }
  // A call given a share of the time leaves the rest to the calls after it.
  const windUp = share < 1 ? null : (boundNow?.() ?? null);
  if (windUp !== null && windUp !== bound && windUp.endsAt > performance.now()) {
    try {
      return await windUp.race(work);
    } catch (error) {
      if (!cutShort(windUp, error)) throw error;
    }
  }
  throw unanswered(what, key);
}

/** Whether `error` is the bound's own abort, not the call's failure. */
function cutShort(bound: CallBound, error: unknown): boolean {
  return bound.signal.aborted && error === bound.signal.reason;
}

/** A call that failed for want of time: the run is at its end, asking again would not help. */
export function outOfTime(error: unknown): boolean {
  return (
    error instanceof StoreError &&
    (error.code === "STORE_TIMEOUT" || error.code === "OUTCOME_UNKNOWN")
  );
}

/** `the checkpoint commit of players/2024-01-15`: a call, as messages name it. */
function callOf(what: string, key: CheckpointKey | null): string {
  return key === null ? what : `${what} of ${describeKey(key)}`;
}

/** A call not made: the run's end and its wind-up are over. Nothing of it landed. */
function noTimeLeft(what: string, key: CheckpointKey | null): StoreError {
  return new StoreError(
    "STORE_TIMEOUT",
    `No time was left for ${callOf(what, key)}: the run's deadline (or shutdown ` +
      `grace) and the ${WIND_UP_MS} ms after it to wind up are over, so it was not sent.`,
    { nothingLanded: true },
  );
}

/** A call the store did not answer by the end of the wind-up, nor say it cancelled. */
function unanswered(what: string, key: CheckpointKey | null): StoreError {
  return new StoreError(
    "OUTCOME_UNKNOWN",
    `The store did not answer ${callOf(what, key)} by the end of the run's deadline ` +
      `(or shutdown grace) and the ${WIND_UP_MS} ms after it, nor say that it cancelled it. It ` +
      "may still land: the next run reads the checkpoint and resumes from whatever did. Look " +
      "for a session holding locks on waymark's rows (PostgreSQL: pg_locks), a process holding " +
      "the SQLite file's write lock, or a server that stopped answering.",
  );
}
