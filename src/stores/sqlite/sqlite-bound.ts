import { performance } from "node:perf_hooks";
import { StoreError } from "../../core/errors.js";
import type { CallBound } from "../../core/store/run-store.js";
import type { SqliteDatabase } from "./sqlite-driver.js";
import { translateSqliteError } from "./sqlite-errors.js";

/**
 * Runs one call of the SQLite store within a run's bound. better-sqlite3 is synchronous: a
 * write that waits for another connection's write lock holds the whole process for as long as
 * the busy timeout, and no timer of the run can fire meanwhile. So a call with less time left
 * than `busyTimeoutMs` waits only that long (the connection's busy timeout is lowered for the
 * call and set back after it); one with more runs as any other, at no cost.
 *
 * A write that found the file locked for the whole time is `STORE_TIMEOUT` with
 * `nothingLanded`: SQLite applied none of it.
 */
export function withinBound<T>(
  database: SqliteDatabase,
  busyTimeoutMs: number,
  path: string,
  bound: CallBound,
  work: () => T,
): T {
  const left = Math.floor(bound.endsAt - performance.now());
  if (left >= busyTimeoutMs) {
    try {
      return work();
    } catch (error) {
      throw translateSqliteError(error, path);
    }
  }
  const waitMs = Math.max(0, left);
  database.pragma(`busy_timeout = ${waitMs}`);
  try {
    return work();
  } catch (error) {
    if (!isBusy(error)) throw translateSqliteError(error, path);
    throw new StoreError(
      "STORE_TIMEOUT",
      `The SQLite store ${path} stayed locked by another connection for the ${waitMs} ms the ` +
        "run had left: nothing was written. Find the process holding a long write " +
        "transaction on the file.",
      { cause: error, location: path, nothingLanded: true },
    );
  } finally {
    database.pragma(`busy_timeout = ${busyTimeoutMs}`);
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}
