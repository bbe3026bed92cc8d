import { WaymarkError } from "../core/errors.js";
import type { KeyKind } from "./key-cursor.js";
import { type KeyColumn, type QueryDriver, quoteIdentifier, type Row } from "./query-driver.js";

/**
 * The slice of node-postgres `fromQuery` calls: a `pg.Pool`, a `pg.Client` or a checked-out
 * client. Typed structurally so that `pg` stays an optional peer.
 */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: object[] }>;
}

// Types whose order a cursor can follow, by what format_type() calls them.
const INTEGERS = new Set(["smallint", "integer", "bigint"]);
const COLLATABLE = new Set(["text", "character varying", "character", "name"]);

/** `fromQuery` on PostgreSQL. */
export function postgresDriver(db: PgQueryable): QueryDriver {
  const all = async (text: string, values: readonly unknown[]) =>
    (await db.query(text, [...values])).rows as Row[];
  return {
    dialect: "postgres",
    readAhead: true,
    placeholder: (n) => `$${n}`,
    all,
    async describeKey(table, keys) {
      // Domains answer with their base type; attnotnull spares the NULL probe.
      const rows = (await all(
        `SELECT a.attname AS name, a.attnotnull AS not_null,
                format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, NULL) AS type
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
          WHERE a.attrelid = $1::regclass AND a.attname = ANY($2::text[])
            AND a.attnum > 0 AND NOT a.attisdropped`,
        [quoteIdentifier(table), keys],
      )) as Array<{ name: string; not_null: boolean; type: string }>;
      return keys.map((name) => {
        const found = rows.find((r) => r.name === name);
        if (!found) throw missingColumn(table, name);
        const kind = kindOf(found.type, table, name);
        const quoted = quoteIdentifier(name);
        return {
          name,
          kind,
          nullable: !found.not_null,
          // Text compares by the column's collation in PostgreSQL but by code unit in the
          // runner; "C" makes the two agree (and needs an index with COLLATE "C").
          sql: COLLATABLE.has(found.type) ? `${quoted} COLLATE "C"` : quoted,
        } satisfies KeyColumn;
      });
    },
    async missingIndex(text, values, pageSize) {
      const [row] = await all(`EXPLAIN (FORMAT JSON) ${text}`, values);
      const plan = (row?.["QUERY PLAN"] as Array<{ Plan: PlanNode }> | undefined)?.[0]?.Plan;
      const sort = plan ? findSort(plan) : null;
      // A sort of a few pages' rows is cheap (a small table, a selective filter); a sort of
      // many pages' rows for every page is what a missing index costs.
      if (!sort || sort["Plan Rows"] <= 10 * pageSize) return null;
      return `PostgreSQL plans to sort about ${sort["Plan Rows"].toLocaleString("en")} rows for every page`;
    },
  };
}

interface PlanNode {
  "Node Type": string;
  "Plan Rows": number;
  Plans?: PlanNode[];
}

function findSort(node: PlanNode): PlanNode | null {
  if (node["Node Type"] === "Sort" || node["Node Type"] === "Incremental Sort") return node;
  for (const child of node.Plans ?? []) {
    const found = findSort(child);
    if (found) return found;
  }
  return null;
}

function kindOf(type: string, table: string, column: string): KeyKind {
  if (INTEGERS.has(type)) return "integer";
  if (COLLATABLE.has(type)) return "text";
  if (type === "uuid") return "uuid";
  if (type === "date") return "date";
  throw new WaymarkError(
    "INVALID_ENTITY",
    `fromQuery(${table}): key column "${column}" has type ${type}, which no cursor can follow ` +
      "exactly. Key on integer, text, uuid or date columns (add one if needed).",
  );
}

function missingColumn(table: string, column: string): WaymarkError {
  return new WaymarkError(
    "SOURCE_FAILED",
    `fromQuery(${table}): the table has no column "${column}" for the key. Names are quoted, ` +
      "so they match case exactly: an unquoted CREATE TABLE stores them in lower case.",
  );
}
