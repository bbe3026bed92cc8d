import { describeValue, InvalidOptionError } from "../core/errors.js";

const PARTITION: unique symbol = Symbol("waymark.sql.partition");

/** Stands for the run's partition inside a {@link sql} fragment. */
export type PartitionPlaceholder = typeof PARTITION;

/**
 * A piece of SQL with its parameters kept apart from its text. Build one with the
 * {@link sql} tag; every interpolated value becomes a bound parameter, never SQL text.
 */
export class SqlFragment {
  readonly strings: readonly string[];
  readonly values: readonly unknown[];

  constructor(strings: readonly string[], values: readonly unknown[]) {
    this.strings = strings;
    this.values = values;
  }
}

/** SQL text in the database's own placeholder style (`$1` or `?`) with its values. */
export interface RawSql {
  readonly text: string;
  readonly values?: readonly unknown[];
}

/** The `sql` tag: a template becomes a {@link SqlFragment}; `sql.partition` is the partition. */
export interface SqlTag {
  (strings: TemplateStringsArray, ...values: unknown[]): SqlFragment;
  /** Replaced by the run's partition when the query runs. */
  readonly partition: PartitionPlaceholder;
}

/**
 * Tags a SQL fragment: `${value}` binds a parameter, `${otherFragment}` nests a fragment and
 * `${sql.partition}` binds the run's partition. Works for PostgreSQL and SQLite alike.
 *
 * @example
 * fromQuery({ db, table: "player_lines", key: "player_id",
 *   where: sql`game_date = ${sql.partition} AND team = ${team}` });
 */
export const sql: SqlTag = Object.assign(
  (strings: TemplateStringsArray, ...values: unknown[]) => new SqlFragment([...strings], values),
  { partition: PARTITION } as const,
);

/** SQL text and values, compiled for one dialect. */
export interface CompiledSql {
  readonly text: string;
  readonly values: unknown[];
}

/**
 * Compiles a fragment for one dialect: `placeholder(n)` writes the n-th parameter (1-based)
 * counting `values` already bound before it, and `sql.partition` binds `partition`.
 */
export function compileSql(
  fragment: SqlFragment,
  partition: string,
  placeholder: (n: number) => string,
  values: unknown[] = [],
): CompiledSql {
  let text = fragment.strings[0] ?? "";
  fragment.values.forEach((value, i) => {
    if (value instanceof SqlFragment) {
      text += compileSql(value, partition, placeholder, values).text;
    } else {
      values.push(value === PARTITION ? partition : value);
      text += placeholder(values.length);
    }
    text += fragment.strings[i + 1] ?? "";
  });
  return { text, values };
}

/**
 * Reads a `where` option: a fragment, or raw text with values. A plain string is refused:
 * it would invite building SQL out of user input.
 */
export function asWhere(value: unknown, option: string): SqlFragment | RawSql {
  if (value instanceof SqlFragment) return value;
  if (
    value !== null &&
    typeof value === "object" &&
    typeof (value as RawSql).text === "string" &&
    ((value as RawSql).values === undefined || Array.isArray((value as RawSql).values))
  ) {
    return value as RawSql;
  }
  const fix =
    typeof value === "string"
      ? `write it with the sql tag, sql\`${value.slice(0, 40)}\`, so that values become parameters`
      : "pass sql`…`, { text, values } or a function ({ partition }) => one of them";
  throw new InvalidOptionError(
    option,
    `Invalid fromQuery option \`${option}\`: got ${describeValue(value)}; ${fix}.`,
  );
}
