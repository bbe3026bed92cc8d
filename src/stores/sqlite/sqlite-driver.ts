import { createRequire } from "node:module";

/**
 * The slice of better-sqlite3 that waymark uses, typed here (as Kysely types its SQLite
 * driver) so that waymark's types need none of the driver's, and loaded only when a SQLite
 * store is opened, so that `import "waymark"` never loads the native addon.
 */

/** A prepared statement: better-sqlite3's `Statement`. */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: better-sqlite3's own constraint, so that its connection fits
type AnyFunction = (...args: any[]) => unknown;
type ArgumentsOf<F extends AnyFunction> = F extends (...args: infer A) => unknown ? A : never;

/** A function that runs in one transaction: better-sqlite3's `Transaction`. */
export interface SqliteTransaction<F extends AnyFunction> {
  (...args: ArgumentsOf<F>): ReturnType<F>;
  /** Takes the write lock at BEGIN, so that a read-then-write never fails on a busy file. */
  immediate(...args: ArgumentsOf<F>): ReturnType<F>;
}

/** A better-sqlite3 connection, for your own tables and queries. */
export interface SqliteDatabase {
  readonly open: boolean;
  readonly inTransaction: boolean;
  readonly readonly: boolean;
  prepare(sql: string): SqliteStatement;
  transaction<F extends AnyFunction>(fn: F): SqliteTransaction<F>;
  exec(sql: string): this;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Registers a SQL function (migrations use it to split old keys). */
  function(
    name: string,
    options: { deterministic?: boolean },
    implementation: (...args: unknown[]) => unknown,
  ): this;
  close(): this;
}

/** better-sqlite3's options, as far as waymark sets them. */
export interface SqliteOpenOptions {
  /** How long a write waits for a busy file, in ms. */
  readonly timeout: number;
  readonly readonly?: boolean;
  readonly fileMustExist?: boolean;
}

type DatabaseConstructor = new (path: string, options: SqliteOpenOptions) => SqliteDatabase;
let driver: DatabaseConstructor | undefined;

/** Opens a connection, loading better-sqlite3 on first use. */
export function connectSqlite(path: string, options: SqliteOpenOptions): SqliteDatabase {
  driver ??= createRequire(import.meta.url)("better-sqlite3") as DatabaseConstructor;
  return new driver(path, options);
}
