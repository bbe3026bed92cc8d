import { accessSync, constants } from "node:fs";
import { dirname } from "node:path";
import { StoreError, type StoreErrorCode } from "../../core/errors.js";
import { closedStoreError } from "../store-errors.js";

/** An error from better-sqlite3 (`SqliteError`, `code` like `SQLITE_IOERR_FSYNC`) or node's fs. */
interface CodedError extends Error {
  code?: unknown;
}

const KEEP = "The last good checkpoint is intact.";

/**
 * Turns a failure of the SQLite store's file into a `StoreError` that names the file, the
 * driver's code and the fix: a file that is not a database or is corrupt, an I/O error, a full
 * disk, a read-only file or folder, a path that cannot be opened, a closed store. Errors of
 * statements (a constraint, a syntax error in `ctx.tx` SQL) come back unchanged: they are the
 * batch's, not the store's.
 */
export function translateSqliteError(error: unknown, path: string): unknown {
  if (error instanceof StoreError || !(error instanceof Error)) return error;
  const code = typeof (error as CodedError).code === "string" ? (error as CodedError).code : "";
  const what = `${error.message}${code && !error.message.includes(code as string) ? ` (${code})` : ""}`;
  const fail = (storeCode: StoreErrorCode, message: string) =>
    new StoreError(storeCode, message, { cause: error, location: path });
  if (code === "SQLITE_NOTADB") {
    return fail(
      "STORE_CORRUPT",
      `${path} is not a SQLite database: ${what}. Point --store at the right file, or move ` +
        "this one away to start with an empty store.",
    );
  }
  if (typeof code === "string" && code.startsWith("SQLITE_CORRUPT")) {
    return fail(
      "STORE_CORRUPT",
      `The SQLite store ${path} is corrupt: ${what}. Restore it from a backup, or recover what ` +
        `is readable with \`sqlite3 ${path} .recover\` into a new file.`,
    );
  }
  if (code === "SQLITE_FULL" || code === "ENOSPC") {
    return fail(
      "STORE_FULL",
      `The disk holding the SQLite store ${path} is full: ${what}. Free some space on it, then ` +
        `run again. ${KEEP}`,
    );
  }
  if (
    (typeof code === "string" && code.startsWith("SQLITE_READONLY")) ||
    code === "EROFS" ||
    (code === "SQLITE_CANTOPEN" && readOnlyFolder(path))
  ) {
    return fail(
      "STORE_READ_ONLY",
      `The SQLite store ${path} cannot be written: ${what}. Make the file and its folder ` +
        "writable by this user (and the file system read-write), or choose another path with " +
        "--store sqlite:PATH.",
    );
  }
  if (typeof code === "string" && code.startsWith("SQLITE_IOERR")) {
    return fail(
      "STORE_IO_ERROR",
      `I/O error on the SQLite store ${path}: ${what}. The disk or file system failed a read, ` +
        `write or sync; check it (dmesg, free space, the mount) and run again. ${KEEP}`,
    );
  }
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
    return fail(
      "STORE_UNAVAILABLE",
      `The SQLite store ${path} stayed locked by another process: ${what}. Raise ` +
        "busyTimeoutMs, or find the process holding a long write transaction on the file.",
    );
  }
  if (code === "EEXIST" || code === "ENOTDIR") {
    return fail(
      "STORE_UNAVAILABLE",
      `Cannot create the folder of the SQLite store ${path}: ${what}. A part of the path is ` +
        "a file, not a folder; choose another path with --store sqlite:PATH.",
    );
  }
  if (
    code === "SQLITE_CANTOPEN" ||
    code === "EACCES" ||
    code === "EISDIR" ||
    code === "EPERM" ||
    code === "ENOENT"
  ) {
    return fail(
      "STORE_UNAVAILABLE",
      `Cannot open the SQLite store at ${path}: ${what}. Check that the path names a file (not ` +
        "a folder) in a folder this user can write, or choose another path with --store sqlite:PATH.",
    );
  }
  if (error instanceof TypeError && /database connection is not open/.test(error.message)) {
    return closedStoreError(path, error);
  }
  return error;
}

/** Whether the folder of `path` exists but cannot be written (a read-only mount). */
function readOnlyFolder(path: string): boolean {
  try {
    accessSync(dirname(path), constants.W_OK);
    return false;
  } catch (error) {
    const code = (error as CodedError).code;
    return code === "EROFS" || code === "EACCES";
  }
}
