import type { PgTx, SqliteTx } from "../../src/index.js";
import { playersOn } from "./players.js";

/** A PostgreSQL pool or client: the part of `pg` this example uses. */
export interface PgClient {
  query(text: string, values?: unknown[]): Promise<{ rows: object[] }>;
}

/** A better-sqlite3 database: the part this example uses (a `SqliteStore`'s `database`). */
export interface SqliteDb {
  exec(sql: string): unknown;
  prepare(sql: string): {
    run(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
  };
}

/**
 * The input: one box-score line per player and game date. The primary key (game_date,
 * player_id) is the index `fromQuery` seeks in: the where's equality column, then the key.
 */
const PLAYER_LINES = (date: "TEXT" | "DATE") => `CREATE TABLE IF NOT EXISTS player_lines (
  game_date  ${date}    NOT NULL,
  player_id  INTEGER NOT NULL,
  minutes    INTEGER NOT NULL,
  points     INTEGER NOT NULL,
  rebounds   INTEGER NOT NULL,
  assists    INTEGER NOT NULL,
  PRIMARY KEY (game_date, player_id))`;

/** The output: one summary per (game date, player), whatever happens to the runs. */
const SUMMARIES = (date: "TEXT" | "DATE", real: "REAL" | "DOUBLE PRECISION") =>
  `CREATE TABLE IF NOT EXISTS player_summaries (
  game_date  ${date}    NOT NULL,
  player_id  INTEGER NOT NULL,
  minutes    INTEGER NOT NULL,
  points     INTEGER NOT NULL,
  rebounds   INTEGER NOT NULL,
  assists    INTEGER NOT NULL,
  efficiency ${real} NOT NULL,
  PRIMARY KEY (game_date, player_id))`;

/** The summaries table on SQLite (kept for callers that only write summaries). */
export const SUMMARIES_TABLE = SUMMARIES("TEXT", "REAL");

const COLUMNS = "(game_date, player_id, minutes, points, rebounds, assists)";

/** Creates both tables in a SQLite database and loads the lines of `dates` (idempotent). */
export function prepareSqlite(db: SqliteDb, dates: readonly string[]): void {
  db.exec(PLAYER_LINES("TEXT"));
  db.exec(SUMMARIES_TABLE);
  const insert = db.prepare(
    `INSERT OR IGNORE INTO player_lines ${COLUMNS} VALUES (?, ?, ?, ?, ?, ?)`,
  );
  for (const date of dates) {
    for (const p of playersOn(date))
      insert.run(date, p.id, p.minutes, p.points, p.rebounds, p.assists);
  }
}

/** Creates both tables on PostgreSQL and loads the lines of `dates` (idempotent). */
export async function preparePostgres(pool: PgClient, dates: readonly string[]): Promise<void> {
  await pool.query(PLAYER_LINES("DATE"));
  await pool.query(SUMMARIES("DATE", "DOUBLE PRECISION"));
  for (const date of dates) {
    const lines = playersOn(date);
    await pool.query(
      `INSERT INTO player_lines ${COLUMNS}
       SELECT $1::date, * FROM unnest($2::int[], $3::int[], $4::int[], $5::int[], $6::int[])
       ON CONFLICT DO NOTHING`,
      [
        date,
        lines.map((p) => p.id),
        lines.map((p) => p.minutes),
        lines.map((p) => p.points),
        lines.map((p) => p.rebounds),
        lines.map((p) => p.assists),
      ],
    );
  }
}

// MERGE, not append: the key is the (game date, player) the row describes, so writing it
// again (a replayed batch, a rerun of the date) replaces it instead of adding a duplicate.
const UPSERT = (p: (n: number) => string) => `INSERT INTO player_summaries
    (game_date, player_id, minutes, points, rebounds, assists, efficiency)
  VALUES (${[1, 2, 3, 4, 5, 6, 7].map(p).join(", ")})
  ON CONFLICT (game_date, player_id) DO UPDATE SET
    minutes = excluded.minutes, points = excluded.points, rebounds = excluded.rebounds,
    assists = excluded.assists, efficiency = excluded.efficiency`;
const UPSERT_SQLITE = UPSERT(() => "?");
const UPSERT_POSTGRES = UPSERT((n) => `$${n}`);

/** Writes one summary through the batch's transaction, on either store. */
export async function writeSummary(tx: SqliteTx | PgTx, values: unknown[]): Promise<void> {
  if ("run" in tx) tx.run(UPSERT_SQLITE, ...values);
  else await tx.query(UPSERT_POSTGRES, values);
}

/** How many summaries `date` has. */
export async function countSummaries(db: PgClient | SqliteDb, date: string): Promise<number> {
  const rows =
    "prepare" in db
      ? db.prepare("SELECT COUNT(*) AS n FROM player_summaries WHERE game_date = ?").all(date)
      : (await db.query("SELECT COUNT(*) AS n FROM player_summaries WHERE game_date = $1", [date]))
          .rows;
  return Number((rows[0] as { n: number | string }).n);
}
