import type { KeyValue } from "./key-cursor.js";
import { type KeyColumn, quoteIdentifier } from "./query-driver.js";
import { type CompiledSql, compileSql, type RawSql, SqlFragment } from "./sql.js";

/** Everything the statements of one read share: table, key, filter, page size. */
export interface QueryShape {
  /** `SELECT … FROM …`, identifiers quoted. */
  readonly select: string;
  readonly from: string;
  readonly key: readonly KeyColumn[];
  readonly pageSize: number;
  readonly placeholder: (n: number) => string;
}

/**
 * The user's `where` for one partition, compiled once per read. It goes first in the
 * statement, so that raw `$1` placeholders keep their numbers.
 */
export function compileWhere(
  shape: QueryShape,
  where: SqlFragment | RawSql | null,
  partition: string,
): CompiledSql {
  if (where instanceof SqlFragment) {
    const compiled = compileSql(where, partition, shape.placeholder);
    return { text: `(${compiled.text})`, values: compiled.values };
  }
  return where
    ? { text: `(${where.text})`, values: [...(where.values ?? [])] }
    : { text: "", values: [] };
}

/** Bounds on the key: each a whole key, or (for `atMost`) its leading columns. */
export interface KeyBounds {
  /** Keys strictly after this one (the cursor). */
  readonly after?: readonly KeyValue[] | null;
  /** Keys up to and including this one (a shard's end). */
  readonly to?: readonly KeyValue[] | null;
  /** Keys from this one on, included. */
  readonly atLeast?: readonly KeyValue[] | null;
  /** Keys whose leading columns are at or below these values. */
  readonly atMost?: readonly KeyValue[] | null;
  /** Leaves out rows with a NULL in a key column, which sort first or last by dialect. */
  readonly notNull?: boolean;
}

/** The `WHERE` clause: the user's filter and the key's bounds (after the cursor, up to `to`). */
export function compileFilter(
  shape: QueryShape,
  where: CompiledSql,
  bounds: KeyBounds,
): CompiledSql {
  const values = [...where.values];
  const terms = where.text ? [where.text] : [];
  if (bounds.after) terms.push(compareKey(shape, ">", bounds.after, values));
  if (bounds.to) terms.push(compareKey(shape, "<=", bounds.to, values));
  if (bounds.atLeast) terms.push(compareKey(shape, ">=", bounds.atLeast, values));
  if (bounds.atMost) terms.push(compareKey(shape, "<=", bounds.atMost, values));
  if (bounds.notNull) {
    for (const k of shape.key) if (k.nullable) terms.push(`${k.sql} IS NOT NULL`);
  }
  return { text: terms.length ? ` WHERE ${terms.join(" AND ")}` : "", values };
}

/**
 * `"k" > $3`, or `("a", "b") > ($3, $4)`: a row comparison that one index seek serves. A key
 * shorter than the key compares the leading columns.
 */
function compareKey(
  shape: QueryShape,
  operator: ">" | "<=" | ">=",
  key: readonly KeyValue[],
  values: unknown[],
): string {
  const params = key.map((value) => {
    values.push(value);
    return shape.placeholder(values.length);
  });
  const columns = shape.key.slice(0, key.length).map((k) => k.sql);
  if (columns.length === 1) return `${columns[0]} ${operator} ${params[0]}`;
  return `(${columns.join(", ")}) ${operator} (${params.join(", ")})`;
}

/** One page: the filter plus the key bound, in key order, at most `pageSize` rows. */
export function pageQuery(shape: QueryShape, filter: CompiledSql): string {
  const order = shape.key.map((k) => k.sql).join(", ");
  return `${shape.select} FROM ${shape.from}${filter.text} ORDER BY ${order} LIMIT ${shape.pageSize}`;
}

/**
 * The key of the row `offset` rows from the filter's first (`ASC`) or last (`DESC`) one, as
 * the index gives it: a seek and a walk of `offset` index entries, never a scan.
 */
export function keyAtQuery(
  shape: QueryShape,
  filter: CompiledSql,
  direction: "ASC" | "DESC",
  offset: number,
): string {
  const columns = shape.key.map((k) => quoteIdentifier(k.name)).join(", ");
  const order = shape.key.map((k) => `${k.sql} ${direction}`).join(", ");
  return `SELECT ${columns} FROM ${shape.from}${filter.text} ORDER BY ${order} LIMIT 1 OFFSET ${offset}`;
}

/** The number of rows the filter matches. */
export function countQuery(shape: QueryShape, filter: CompiledSql): string {
  return `SELECT count(*) AS n FROM ${shape.from}${filter.text}`;
}

/** Finds a row whose key holds a NULL: such rows fall out of every keyset page. */
export function nullProbeQuery(shape: QueryShape, filter: CompiledSql): string | null {
  const nullable = shape.key.filter((k) => k.nullable);
  if (nullable.length === 0) return null;
  const test = nullable.map((k) => `${k.sql} IS NULL`).join(" OR ");
  const where = filter.text ? `${filter.text} AND (${test})` : ` WHERE ${test}`;
  return `SELECT 1 AS found FROM ${shape.from}${where} LIMIT 1`;
}
