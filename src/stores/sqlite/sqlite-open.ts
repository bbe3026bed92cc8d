import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { connectSqlite, type SqliteDatabase } from "./sqlite-driver.js";
import { translateSqliteError } from "./sqlite-errors.js";
import { migrateSqlite } from "./sqlite-migrations.js";

/**
 * Opens (creating its folder and file when needed) and migrates the database of a
 * `SqliteStore`. Every failure is a `StoreError` naming the file and the fix: a folder that
 * cannot be created, a file that is not a database or is corrupt, a read-only or full disk, an
 * I/O error. A connection that was opened is closed again, and its close never hides the cause.
 */
export function openSqliteDatabase(
  path: string,
  options: { synchronous: "FULL" | "NORMAL"; busyTimeoutMs: number },
): SqliteDatabase {
  let database: SqliteDatabase | undefined;
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    database = connectSqlite(path, { timeout: options.busyTimeoutMs });
    database.pragma("journal_mode = WAL");
    database.pragma(`synchronous = ${options.synchronous}`);
    migrateSqlite(database, path);
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
