import type { KeyValue } from "./key-cursor.js";
import type { KeyColumn } from "./query-driver.js";
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

/** The `WHERE` clause: the user's filter and the key's bounds (after the cursor, up to `to`). */
export function compileFilter(
  shape: QueryShape,
  where: CompiledSql,
  bounds: { after?: readonly KeyValue[] | null; to?: readonly KeyValue[] | null },
): CompiledSql {
  const values = [...where.values];
  const terms = where.text ? [where.text] : [];
  if (bounds.after) terms.push(compareKey(shape, ">", bounds.after, values));
  if (bounds.to) terms.push(compareKey(shape, "<=", bounds.to, values));
  return { text: terms.length ? ` WHERE ${terms.join(" AND ")}` : "", values };
}

/** `"k" > $3`, or `("a", "b") > ($3, $4)`: a row comparison that one index seek serves. */
function compareKey(
  shape: QueryShape,
  operator: ">" | "<=",
  key: readonly KeyValue[],
  values: unknown[],
): string {
  const params = key.map((value) => {
    values.push(value);
    return shape.placeholder(values.length);
  });
  if (shape.key.length === 1) return `${shape.key[0]?.sql} ${operator} ${params[0]}`;
  return `(${shape.key.map((k) => k.sql).join(", ")}) ${operator} (${params.join(", ")})`;
}

/** One page: the filter plus the key bound, in key order, at most `pageSize` rows. */
export function pageQuery(shape: QueryShape, filter: CompiledSql): string {
  const order = shape.key.map((k) => k.sql).join(", ");
  return `${shape.select} FROM ${shape.from}${filter.text} ORDER BY ${order} LIMIT ${shape.pageSize}`;
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
