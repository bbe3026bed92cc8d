import { InvalidOptionError, StoreError } from "../core/errors.js";

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

/** How each store's `ctx.tx` writes, for {@link wrongTxError}. */
const TX_USE = {
  memory: "a memory: store's ctx.tx stages functions: ctx.tx.run(effect, undo?)",
  sqlite: "a SQLite store's ctx.tx stages SQL: ctx.tx.run(sql, ...params)",
} as const;

/**
 * `ctx.tx` used as another store's: a processor written for one store run on another. A
 * waymark error, so it is not retried: the batch would fail the same way every time.
 */
export function wrongTxError(store: keyof typeof TX_USE, got: string): InvalidOptionError {
  return new InvalidOptionError(
    "ctx.tx",
    `${got}, but ${TX_USE[store]}. A processor is written for one kind of store: run it on ` +
      "the store its ctx.tx calls are for (--store, or the store option), or give it the " +
      "type of ctx.tx as its third type argument so that TypeScript catches this.",
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
