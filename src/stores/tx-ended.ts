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
