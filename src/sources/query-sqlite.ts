import { WaymarkError } from "../core/errors.js";
import { type KeyColumn, type QueryDriver, quoteIdentifier, type Row } from "./query-driver.js";

/**
 * The slice of better-sqlite3 `fromQuery` calls: a `Database` (a `SqliteStore`'s
 * `database` too). Typed structurally so that the package is not loaded for PostgreSQL users.
 */
export interface SqliteDatabase {
  prepare(sql: string): { all(...params: unknown[]): unknown[] };
}

/**
 * `fromQuery` on SQLite. better-sqlite3 is synchronous, so a page is read when the runner
 * asks for it: reading ahead would block the same thread that processes the batch.
 */
export function sqliteDriver(db: SqliteDatabase): QueryDriver {
  const statements = new Map<string, { all(...params: unknown[]): unknown[] }>();
  const all = async (text: string, values: readonly unknown[]) => {
    let statement = statements.get(text);
    if (!statement) {
      statement = db.prepare(text);
      statements.set(text, statement);
    }
    return statement.all(...values) as Row[];
  };
  return {
    dialect: "sqlite",
    readAhead: false,
    placeholder: () => "?",
    all,
    async describeKey(table, keys) {
      const dot = table.indexOf(".");
      const [schema, name] =
        dot < 0 ? ["main", table] : [table.slice(0, dot), table.slice(dot + 1)];
      const columns = (await all(
        `SELECT name, "notnull" AS not_null, pk, type FROM pragma_table_info(?, ?)`,
        [name, schema],
      )) as Array<{ name: string; not_null: number; pk: number; type: string }>;
      if (columns.length === 0) {
        throw new WaymarkError(
          "SOURCE_FAILED",
          `fromQuery(${table}): SQLite has no table or view "${table}" in this database.`,
        );
      }
      // An INTEGER PRIMARY KEY is the rowid: it can never be NULL.
      const rowid = columns.filter((c) => c.pk > 0);
      return keys.map((key) => {
        const found = columns.find((c) => c.name === key);
        if (!found) {
          throw new WaymarkError(
            "SOURCE_FAILED",
            `fromQuery(${table}): the table has no column "${key}" for the key.`,
          );
        }
        const isRowid = rowid.length === 1 && found.pk === 1 && /^integer$/i.test(found.type);
        return {
          name: key,
          sql: quoteIdentifier(key),
          kind: "auto",
          nullable: found.not_null === 0 && !isRowid,
        } satisfies KeyColumn;
      });
    },
    async missingIndex(text, values) {
      const plan = (await all(`EXPLAIN QUERY PLAN ${text}`, values)) as Array<{ detail: string }>;
      const sorts = plan.some((step) => /USE TEMP B-TREE FOR .*ORDER BY/.test(step.detail));
      return sorts
        ? "SQLite plans to sort the matching rows in a temporary b-tree for every page"
        : null;
    },
  };
}
