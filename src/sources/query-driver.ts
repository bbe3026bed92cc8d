import type { KeyKind } from "./key-cursor.js";

/** A row as a database driver returns it. */
export type Row = Record<string, unknown>;

/** What the page loop needs to know about one key column. */
export interface KeyColumn {
  /** The column name, as in the rows. */
  readonly name: string;
  /** The column in SQL: quoted, with a collation where the dialect needs one for code-unit order. */
  readonly sql: string;
  readonly kind: KeyKind;
  /** Whether the column may hold NULL (then a probe looks for NULL keys). */
  readonly nullable: boolean;
}

/**
 * One database behind `fromQuery`: how to write a placeholder, learn the key's columns, run a
 * query and read a plan. PostgreSQL (`pg`) and SQLite (`better-sqlite3`) implement it.
 */
export interface QueryDriver {
  readonly dialect: "postgres" | "sqlite";
  /** Whether to fetch the next page while the current one is processed. */
  readonly readAhead: boolean;
  /** The n-th parameter (1-based) in this dialect: `$3` or `?`. */
  placeholder(n: number): string;
  /** The key columns of `table`, in key order; throws when one does not exist. */
  describeKey(table: string, keys: readonly string[]): Promise<KeyColumn[]>;
  /** Runs a query and resolves to its rows. */
  all(text: string, values: readonly unknown[]): Promise<Row[]>;
  /**
   * Why no index serves the page query's ORDER BY, or null when one does. `pageSize` tells
   * what a sort per page costs against a page.
   */
  missingIndex(text: string, values: readonly unknown[], pageSize: number): Promise<string | null>;
}

/** Quotes an identifier (`"name"`), each part of a dotted `schema.table` on its own. */
export function quoteIdentifier(name: string): string {
  return name
    .split(".")
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join(".");
}
