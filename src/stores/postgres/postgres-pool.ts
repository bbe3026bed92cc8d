/**
 * The slice of node-postgres that `PostgresStore` calls, typed structurally (as Kysely types
 * better-sqlite3) so that `pg` stays an optional peer dependency and any pool with this shape
 * (a `pg.Pool`, an adapter over PGlite in tests) can stand behind the store.
 */

/** A result row: column name to value (an interface or a record). */
export type PgRow = object;

/** What `query` resolves to: the rows, and how many rows the statement touched. */
export interface PgResult<R extends PgRow = PgRow> {
  rows: R[];
  rowCount: number | null;
}

/**
 * A statement with its parameters. A `name` makes node-postgres prepare it once per
 * connection and then skip parsing and planning: the store names its hot write statements.
 */
export interface PgQueryConfig {
  name?: string;
  text: string;
  values?: unknown[];
}

/** Something that runs one parameterised statement: a pool or a checked-out client. */
export interface PgQueryable {
  // biome-ignore lint/suspicious/noExplicitAny: mirrors pg's own `R = any` default.
  query<R extends PgRow = any>(
    textOrConfig: string | PgQueryConfig,
    values?: unknown[],
  ): Promise<PgResult<R>>;
}

/** A client checked out of the pool; `release(error)` makes the pool drop a broken one. */
export interface PgPoolClient extends PgQueryable {
  release(destroy?: Error | boolean): void;
  /** The server process it talks to (`pg_cancel_backend` cancels its statement). */
  readonly processID?: number | null;
  /** Closes its connection, a running statement's at once. */
  end?(): Promise<void>;
  on?(event: "error", listener: (error: Error) => void): unknown;
  removeListener?(event: "error", listener: (error: Error) => void): unknown;
}

/** A connection pool (`pg.Pool`). */
export interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
}
