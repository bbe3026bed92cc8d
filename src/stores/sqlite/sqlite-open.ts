import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { StoreError } from "../../core/errors.js";
import { connectSqlite, type SqliteDatabase } from "./sqlite-driver.js";
import { translateSqliteError } from "./sqlite-errors.js";
import { checkSqliteSchema, migrateSqlite } from "./sqlite-migrations.js";

/** How a `SqliteStore` opens its file. */
export interface SqliteOpenMode {
  readonly synchronous: "FULL" | "NORMAL";
  readonly busyTimeoutMs: number;
  /** Create the folder, the file and the schema, or migrate it; else it must exist, current. */
  readonly create: boolean;
  /** No write of any kind goes through the connection (`PRAGMA query_only`). */
  readonly readOnly: boolean;
}

/**
 * Opens the database of a `SqliteStore`: creating its folder and file and migrating it, or,
 * with `create: false`, only a store that exists with a current schema (`STORE_NOT_FOUND`
 * otherwise, and nothing is created). Every failure is a `StoreError` naming the file and the
 * fix: a folder that cannot be created, a file that is not a database or is corrupt, a
 * read-only or full disk, an I/O error. A connection that was opened is closed again, and its
 * close never hides the cause.
 */
export function openSqliteDatabase(path: string, mode: SqliteOpenMode): SqliteDatabase {
  if (!mode.create && path !== ":memory:" && !existsSync(path)) {
    throw new StoreError(
      "STORE_NOT_FOUND",
      `No store at ${path}: no file there. Check the path, or run a processor on it first.`,
      { location: path },
    );
  }
  let database: SqliteDatabase | undefined;
  try {
    if (mode.create) {
      if (path !== ":memory:") makeFolders(dirname(path));
      database = connectSqlite(path, { timeout: mode.busyTimeoutMs });
      database.pragma("journal_mode = WAL");
      database.pragma(`synchronous = ${mode.synchronous}`);
      migrateSqlite(database, path);
      return database;
    }
    // Read-write but query_only rather than a read-only connection: a read-only one leaves the
    // -wal and -shm files behind, this one removes them on close as every writer does.
    database = connectSqlite(path, { timeout: mode.busyTimeoutMs, fileMustExist: true });
    if (mode.readOnly) database.pragma("query_only = ON");
    else database.pragma(`synchronous = ${mode.synchronous}`);
    checkSqliteSchema(database, path);
    return database;
  } catch (error) {
    try {
      database?.close();
    } catch {
      // The open already failed; that failure is the one to report.
    }
    throw translateSqliteError(error, path);
  }
}

/**
 * `mkdir -p`, one level at a time from the deepest folder that exists. Node's recursive
 * mkdir loops for ever where a folder cannot hold another (under /proc); this fails there.
 */
function makeFolders(folder: string): void {
  const missing: string[] = [];
  for (let at = folder; !existsSync(at) && dirname(at) !== at; at = dirname(at)) missing.push(at);
  for (const at of missing.reverse()) {
    try {
      mkdirSync(at);
    } catch (error) {
      // Another process creating the same folder is no failure.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || !existsSync(at)) throw error;
    }
  }
}
