import { StoreError } from "../core/errors.js";

/**
 * The error every store's `ctx.tx` throws once its batch has ended: committed, rolled back,
 * or abandoned at the deadline or the end of the shutdown grace. Such a write would land
 * outside any checkpoint's transaction, so it is refused rather than applied.
 */
export function txEndedError(): Error {
  return new Error(
    "ctx.tx was used after its batch ended (committed, rolled back, or abandoned at the " +
      "deadline or shutdown). Await every ctx.tx call inside processBatch, and stop work " +
      "when ctx.signal aborts.",
  );
}

/** The error of any use of a store after `close()`. */
export function closedStoreError(location: string, cause?: unknown): StoreError {
  return new StoreError(
    "STORE_CLOSED",
    `The store ${location} is closed. Open it again (openStore) before running, or close it ` +
      "only after every run on it has ended.",
    { cause, location },
  );
}
