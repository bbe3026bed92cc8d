import { z } from "zod";
import { isLogger } from "../core/logger.js";
import type { Cursor, Logger } from "../core/types.js";
import { integerFrom } from "../core/validate.js";
import type { Decoder } from "./decode.js";
import type { Row } from "./query-driver.js";
import type { PgQueryable } from "./query-postgres.js";
import type { SqliteDatabase } from "./query-sqlite.js";
import type { RawSql, SqlFragment } from "./sql.js";

/** A database `fromQuery` reads: a `pg` Pool or Client, or a better-sqlite3 Database. */
export type QueryDatabase = PgQueryable | SqliteDatabase;

/** The filter: a `sql` fragment, raw `{ text, values }`, or a function of the partition. */
export type WhereOption =
  | SqlFragment
  | RawSql
  | ((args: {
      readonly partition: string;
    }) => SqlFragment | RawSql | Promise<SqlFragment | RawSql>);

type ColumnOf<E> = Extract<keyof E, string>;

/** A key column, or the columns of a composite key in order. */
export type KeyOption<E> = ColumnOf<E> | readonly [ColumnOf<E>, ...ColumnOf<E>[]];

type CursorOfValue<V> = [V] extends [number | bigint]
  ? number
  : [V] extends [string | Date]
    ? string
    : Cursor;

/** The cursor type of a key: the column's own for one column, an encoded string for several. */
export type CursorOfKey<E, K> = K extends readonly [infer Only extends keyof E]
  ? CursorOfValue<E[Only]>
  : K extends readonly unknown[]
    ? string
    : K extends keyof E
      ? CursorOfValue<E[K]>
      : Cursor;

/** Options of {@link fromQuery}. */
export interface QueryOptions<E, K> {
  /** A `pg` Pool or Client, or a better-sqlite3 Database (a `SqliteStore`'s `database`). */
  db: QueryDatabase;
  /** The table or view to read, optionally `schema.table`. Names are quoted: case matters. */
  table: string;
  /**
   * The key column, or the columns of a composite key: unique, NOT NULL, and the order
   * entities come in. A composite key's cursor is a string made by `keyCursor`.
   */
  key: K;
  /** The columns to select; the key columns are added when missing. @default every column */
  columns?: readonly string[];
  /**
   * Which rows of the table belong to the run: a `sql` fragment (`sql.partition` stands for
   * the partition), raw `{ text, values }` in the database's placeholder style, or a function
   * of the partition returning either. Values are always bound parameters.
   * @example where: sql`game_date = ${sql.partition}`
   */
  where?: WhereOption;
  /** Rows per query. @default 1000 */
  pageSize?: number;
  /** Counts the matching rows at the start of a run, for progress (a scan: can be slow). @default false */
  count?: boolean;
  /** Turns a row into the entity: a function, or a zod schema. Keep the key columns in it. */
  decode?: Decoder<Row, E>;
  /** Where the missing-index warning goes; `false` for nowhere. @default consoleLogger */
  logger?: Logger | false;
  /** Look once at the query plan and warn when no index serves the key order. @default true */
  checkIndex?: boolean;
}

const NAME = z
  .string({ error: "expected a name" })
  .min(1, { error: "expected a non-empty name" })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  .regex(/^[^\u0000-\u001f]*$/, { error: "expected a name without control characters" });

/** A composite key: its columns, each once. */
const keyColumns = z
  .array(NAME)
  .min(1, { error: 'expected at least one key column, e.g. ["game_date", "player_id"]' })
  .max(16, { error: "expected at most 16 key columns" })
  .refine((columns) => new Set(columns).size === columns.length, {
    error: "expected each key column once",
  });

export const optionsSchema = z.strictObject({
  db: z.custom<QueryDatabase>((db) => isPostgres(db) || isSqlite(db), {
    error: "expected a pg Pool or Client, or a better-sqlite3 Database (e.g. store.database)",
  }),
  table: NAME,
  key: z.union([NAME, keyColumns], {
    error: 'expected a column name or an array of them, e.g. "id" or ["game_date", "player_id"]',
  }),
  columns: z
    .array(NAME, { error: 'expected an array of column names, e.g. ["id", "name"]' })
    .min(1, { error: "expected at least one column" })
    .optional(),
  where: z.unknown().optional(),
  pageSize: integerFrom(1, "e.g. 1000").optional(),
  count: z.boolean({ error: "expected true or false" }).optional(),
  decode: z.unknown().optional(),
  logger: z
    .custom<Logger | false>((l) => l === false || isLogger(l), {
      error: "expected false or an object with debug, info, warn and error methods",
    })
    .optional(),
  checkIndex: z.boolean({ error: "expected true or false" }).optional(),
});

export function isSqlite(db: unknown): db is SqliteDatabase {
  return typeof (db as SqliteDatabase | null)?.prepare === "function";
}

export function isPostgres(db: unknown): db is PgQueryable {
  return typeof (db as PgQueryable | null)?.query === "function";
}
