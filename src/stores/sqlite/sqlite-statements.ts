import type { CallBound } from "../../core/store/run-store.js";
import type { SqliteDatabase, SqliteStatement } from "./sqlite-driver.js";

/**
 * Prepared statements of one connection, cached by their text: preparing costs more than
 * running. Shared by the store's run side, read side and artifacts.
 */
export class SqliteStatements {
  readonly #db: SqliteDatabase;
  readonly #cache = new Map<string, SqliteStatement>();

  constructor(database: SqliteDatabase) {
    this.#db = database;
  }

  /** The prepared statement for `sql`. */
  get(sql: string): SqliteStatement {
    let statement = this.#cache.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#cache.set(sql, statement);
    }
    return statement;
  }
}

/**
 * Runs one store call, turning the driver's errors into `StoreError`s (see
 * `translateSqliteError`). better-sqlite3 is synchronous, so one try around the call covers it.
 * With a `bound`, a lock held by another connection is waited for no longer than it leaves.
 */
export type SqliteGuard = <T>(work: () => T, bound?: CallBound) => T;
