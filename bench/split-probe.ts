/**
 * What it costs `fromQuery` to name a split point on a large table: the time of one `split`
 * (three index seeks) at random holder positions, beside a `count(*)` of the same rest (the
 * scan it avoids), how near the middle the points land, and the plans of the three probes.
 * On a 10,000,000-row table, in SQLite and (when a server is configured) PostgreSQL: an
 * integer key with a partition filter, a text key, and a composite key.
 *
 * The tables are built once per size and kept (PostgreSQL: in schema `waymark_split_probe`;
 * SQLite: a file in the temp directory), so a second run starts at once; `--rebuild` builds them again,
 * `--rows N` uses another size. Not part of `npm test` or `npm run bench`:
 *
 *   npm run build && node --import tsx bench/split-probe.ts [--rows 10000000] [--rebuild]
 *
 * PostgreSQL when WAYMARK_BENCH_PG_URL, WAYMARK_TEST_PG_URL or DATABASE_URL names a server.
 */
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import pg from "pg";
import {
  type Cursor,
  fromQuery,
  keyCursor,
  parseKeyCursor,
  type QueryDatabase,
  sql,
} from "../dist/index.js";
import { type BenchRow, formatTable, median, ms, percentile } from "./stats.js";

const args = process.argv.slice(2);
const ROWS = Number(args[args.indexOf("--rows") + 1] || 10_000_000) || 10_000_000;
const REBUILD = args.includes("--rebuild");
const SPLITS = 100;
const SCHEMA = "waymark_split_probe";
/** The table on PostgreSQL: one per size, so that a run of another size never reuses it. */
const PG_TABLE = `${SCHEMA}.events_${ROWS}`;

/** One statement the source ran, as the database got it. */
interface Statement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** A database beside the statements the source ran through it. */
interface Recorded {
  readonly db: QueryDatabase;
  readonly statements: Statement[];
}

/** The three tables' rows: `n` from 1 to ROWS; ids with gaps, codes in a scrambled order. */
const ROW_SQL = {
  tenant: "n % 2",
  id: "n * 3 + n % 7",
  // A multiplicative hash scrambles the order of the codes against the ids.
  postgresCode: "lpad(to_hex((n::bigint * 2654435761) % 4294967296), 8, '0') || '-' || n",
  sqliteCode: "printf('%08x', (n * 2654435761) % 4294967296) || '-' || n",
};

interface Case {
  readonly name: string;
  readonly key: "id" | "code" | readonly ["tenant", "id"];
  readonly partition: string;
  readonly where?: ReturnType<typeof sql>;
  /** The holder's position: the key of row `n`, as a cursor. */
  readonly cursorOf: (n: number) => Cursor;
  /** The rows after a cursor, counted: the scan the probe avoids. */
  readonly countAfter: (db: Counter, cursor: Cursor) => Promise<number>;
}

type Counter = (text: string, values: unknown[]) => Promise<number>;

/** 2654435761 * n overflows 2^53 past n = 3.4M; BigInt keeps the hash exact for any row. */
const exactCode = (n: number) =>
  `${((BigInt(n) * 2654435761n) % 4294967296n).toString(16).padStart(8, "0")}-${n}`;

function cases(pgText: boolean): Case[] {
  const table = pgText ? PG_TABLE : "events";
  const collate = pgText ? ' COLLATE "C"' : "";
  const p = (i: number) => (pgText ? `$${i}` : "?");
  return [
    {
      name: "integer key, where tenant = partition",
      key: "id",
      partition: "1",
      where: sql`tenant = ${sql.partition}`,
      cursorOf: (n) => n * 3 + (n % 7),
      countAfter: (count, cursor) =>
        count(`SELECT count(*) AS n FROM ${table} WHERE tenant = 1 AND id > ${p(1)}`, [cursor]),
    },
    {
      name: "text key",
      key: "code",
      partition: "all",
      cursorOf: exactCode,
      countAfter: (count, cursor) =>
        count(`SELECT count(*) AS n FROM ${table} WHERE code${collate} > ${p(1)}`, [cursor]),
    },
    {
      name: "composite key (tenant, id)",
      key: ["tenant", "id"],
      partition: "all",
      cursorOf: (n) => keyCursor(n % 2, n * 3 + (n % 7)),
      countAfter: (count, cursor) => {
        const [tenant, id] = parseKeyCursor(String(cursor));
        return count(`SELECT count(*) AS n FROM ${table} WHERE (tenant, id) > (${p(1)}, ${p(2)})`, [
          tenant,
          id,
        ]);
      },
    },
  ];
}

/** Times SPLITS splits at random positions, and counts the rest of a few of them. */
async function measure(
  dialect: string,
  recorded: Recorded,
  count: Counter,
  test: Case,
  minimum: number,
): Promise<{ row: BenchRow; share: number; plan: Statement[] }> {
  const source = fromQuery({
    db: recorded.db,
    table: dialect === "postgres" ? PG_TABLE : "events",
    key: test.key as "id",
    ...(test.where ? { where: test.where } : {}),
    logger: false,
  });
  const signal = new AbortController().signal;
  const split = (after: Cursor | null) =>
    source.split?.({ partition: test.partition, after, to: null, minimum, signal });
  await split(null); // describes the key once, as a running source already has
  const times: number[] = [];
  const positions: Cursor[] = [];
  let random = 7;
  for (let i = 0; i < SPLITS; i++) {
    random = (random * 48271) % 2147483647;
    // Random holder positions in the first 90% of the rows, where a split is worth making.
    const after = test.cursorOf(1 + Math.floor((random / 2147483647) * ROWS * 0.9));
    positions.push(after);
    recorded.statements.length = 0;
    const started = performance.now();
    await split(after);
    times.push(performance.now() - started);
  }
  const plan = [...recorded.statements];
  const shares: number[] = [];
  const countTimes: number[] = [];
  for (const after of positions.slice(0, 3)) {
    const point = await split(after);
    if (point === null || point === undefined) throw new Error(`no split point after ${after}`);
    const started = performance.now();
    const rest = await test.countAfter(count, after);
    countTimes.push(performance.now() - started);
    const second = await test.countAfter(count, point);
    shares.push((rest - second) / rest);
  }
  return {
    row: {
      name:
        `fromQuery (${dialect}) split, ${test.name}, minimum ${minimum}: one split ` +
        `(median of ${SPLITS}, p95 ${ms(percentile(times, 95))}) vs count(*) of the rest`,
      value: ms(median(times)),
      baseline: ms(median(countTimes)),
      ratio: median(times) / median(countTimes),
      goal: null,
    },
    share: median(shares),
    plan,
  };
}

async function runCases(
  dialect: string,
  recorded: Recorded,
  count: Counter,
  explain: (s: Statement) => Promise<string[]>,
) {
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const test of cases(dialect === "postgres")) {
    for (const minimum of [150, 5000]) {
      const { row, share, plan } = await measure(dialect, recorded, count, test, minimum);
      rows.push(row);
      notes.push(
        `${dialect}, ${test.name}, minimum ${minimum}: the holder keeps ${(share * 100).toFixed(1)}% of the rest (median of 3)`,
      );
      if (minimum !== 150) continue;
      for (const statement of plan) {
        notes.push(`  ${statement.text}`);
        for (const line of await explain(statement)) notes.push(`      ${line}`);
      }
    }
  }
  return { rows, notes };
}

async function sqliteLeg() {
  const path = join(tmpdir(), `waymark-split-probe-${ROWS}.sqlite`);
  if (REBUILD) rmSync(path, { force: true });
  const fresh = !existsSync(path);
  const db = new Database(path);
  if (fresh) {
    const started = performance.now();
    db.exec(`CREATE TABLE events (tenant INTEGER NOT NULL, id INTEGER NOT NULL,
      code TEXT NOT NULL, PRIMARY KEY (tenant, id)) WITHOUT ROWID`);
    db.prepare(
      `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
       INSERT INTO events SELECT ${ROW_SQL.tenant}, ${ROW_SQL.id}, ${ROW_SQL.sqliteCode} FROM g`,
    ).run(ROWS);
    db.exec("CREATE UNIQUE INDEX events_code ON events (code)");
    db.exec("ANALYZE");
    console.log(`built ${path} in ${ms(performance.now() - started)}`);
  }
  const statements: Statement[] = [];
  const recorded: Recorded = {
    statements,
    db: {
      prepare(text: string) {
        const statement = db.prepare(text);
        return {
          all: (...values: unknown[]) => {
            if (text.includes(" OFFSET ")) statements.push({ text, values });
            return statement.all(...values);
          },
        };
      },
    },
  };
  const count: Counter = async (text, values) =>
    Number((db.prepare(text).get(...values) as { n: number }).n);
  const explain = async ({ text, values }: Statement) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...values) as Array<{ detail: string }>).map(
      (r) => r.detail,
    );
  try {
    return await runCases("sqlite", recorded, count, explain);
  } finally {
    db.close();
  }
}

async function postgresLeg(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const { rows } = await pool.query("SELECT to_regclass($1) IS NOT NULL AS built", [PG_TABLE]);
    if (REBUILD || !rows[0]?.built) {
      const started = performance.now();
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
      await pool.query(`DROP TABLE IF EXISTS ${PG_TABLE}`);
      await pool.query(`CREATE TABLE ${PG_TABLE} (tenant int NOT NULL, id bigint NOT NULL,
        code text NOT NULL)`);
      await pool.query(
        `INSERT INTO ${PG_TABLE} SELECT ${ROW_SQL.tenant}, ${ROW_SQL.id}, ${ROW_SQL.postgresCode}
           FROM generate_series(1, $1::bigint) n`,
        [ROWS],
      );
      await pool.query(`ALTER TABLE ${PG_TABLE} ADD PRIMARY KEY (tenant, id)`);
      await pool.query(`CREATE UNIQUE INDEX ON ${PG_TABLE} (code COLLATE "C")`);
      await pool.query(`VACUUM ANALYZE ${PG_TABLE}`);
      console.log(`built ${PG_TABLE} in ${ms(performance.now() - started)}`);
    }
    const statements: Statement[] = [];
    const recorded: Recorded = {
      statements,
      db: {
        query(text: string, values?: unknown[]) {
          if (text.includes(" OFFSET ")) statements.push({ text, values: values ?? [] });
          return pool.query(text, values);
        },
      },
    };
    const count: Counter = async (text, values) =>
      Number((await pool.query(text, values)).rows[0]?.n);
    const explain = async ({ text, values }: Statement) =>
      (
        await pool.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) ${text}`, [...values])
      ).rows.map((r: Record<string, string>) => r["QUERY PLAN"] as string);
    return await runCases("postgres", recorded, count, explain);
  } finally {
    await pool.end();
  }
}

const url =
  process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
const legs = [await sqliteLeg()];
if (url) legs.push(await postgresLeg(url));
else console.log("PostgreSQL skipped: set WAYMARK_BENCH_PG_URL to a server");
console.log(`${ROWS.toLocaleString("en")} rows\n`);
console.log(formatTable(legs.flatMap((leg) => leg.rows)));
for (const leg of legs) console.log(`\n${leg.notes.join("\n")}`);
