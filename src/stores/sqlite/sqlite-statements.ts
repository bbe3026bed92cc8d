import type Database from "better-sqlite3";

/**
 * Prepared statements of one connection, cached by their text: preparing costs more than
 * running. Shared by the store's run side, read side and artifacts.
 */
export class SqliteStatements {
  readonly #db: Database.Database;
  readonly #cache = new Map<string, Database.Statement>();

  constructor(database: Database.Database) {
    this.#db = database;
  }

  /** The prepared statement for `sql`. */
  get(sql: string): Database.Statement {
    let statement = this.#cache.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#cache.set(sql, statement);
    }
    return statement;
  }
}
