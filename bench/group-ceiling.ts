/**
 * The most any group commit can gain on this machine: the raw driver writing eight checkpoint
 * rows as eight transactions of one row each, against the same eight rows in one transaction
 * (SQLite) or one statement (PostgreSQL), interleaved round by round. No runner, no store: the
 * speed-up it prints is the ceiling for the commit-bound concurrency rows, which also pay for
 * eight runs' batches in the one thread. When a disk syncs in a tenth of a millisecond, a
 * transaction of eight rows costs noticeably more than one of a single row, and the ceiling
 * falls below the eightfold.
 *
 * Alone: `node --import tsx bench/group-ceiling.ts [--quick]` (a PostgreSQL row when
 * WAYMARK_BENCH_PG_URL, WAYMARK_TEST_PG_URL or DATABASE_URL names a server).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { migrateSqlite } from "../dist/stores/sqlite/sqlite-migrations.js";
import { alternate, type BenchRow, formatTable, ms } from "./stats.js";

const ROWS = 8;
const PARTITIONS = Array.from({ length: ROWS }, (_, i) => `p${i}`);

/**
 * `rounds` rounds of `group` against `single` for each of the eight partitions, alternated;
 * each call gets the round's number to write as the cursor.
 */
function interleaved(
  rounds: number,
  single: (partition: string, n: number) => unknown,
  group: (n: number) => unknown,
): Promise<{ single: number; group: number; ratio: number }> {
  let n = 0;
  const timed = (work: () => Promise<void>) => async () => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const eight = timed(async () => {
    n++;
    for (const partition of PARTITIONS) await single(partition, n);
  });
  const all = timed(async () => {
    await group(++n);
  });
  return alternate(rounds, all, eight).then((m) => ({ single: m.b, group: m.a, ratio: m.ratio }));
}

function row(label: string, m: { single: number; group: number; ratio: number }): BenchRow {
  return {
    name:
      `${label} raw driver: ${ROWS} checkpoint rows in one transaction vs ${ROWS} transactions ` +
      `of one (ceiling of group commit: ${(1 / m.ratio).toFixed(1)}x)`,
    value: ms(m.group),
    baseline: ms(m.single),
    ratio: m.ratio,
    goal: null,
  };
}

/** better-sqlite3 on the store's schema, WAL, `synchronous=FULL`. */
export async function sqliteGroupCeiling(quick: boolean): Promise<BenchRow> {
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-"));
  const db = new Database(join(dir, "raw.db"));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    migrateSqlite(db, "raw.db");
    const upsert = db.prepare(
      `INSERT INTO checkpoints (processor, partition, processor_version, cursor, completed,
         run_id, lease_owner, lease_expires_at, fence, attempt, created_at, updated_at)
       VALUES ('ceiling', ?, 1, ?, ?, 'run', 'me', ?, 1, 1, ?, ?)
       ON CONFLICT (processor, partition, shard) DO UPDATE SET cursor = excluded.cursor,
         completed = excluded.completed, lease_expires_at = excluded.lease_expires_at,
         updated_at = excluded.updated_at`,
    );
    const write = (partition: string, n: number) => {
      const now = Date.now();
      upsert.run(partition, JSON.stringify(n), n, now + 30_000, now, now);
    };
    const one = db.transaction(write);
    const all = db.transaction((n: number) => {
      for (const partition of PARTITIONS) write(partition, n);
    });
    const m = await interleaved(
      quick ? 100 : 1000,
      (partition, n) => one.immediate(partition, n),
      (n) => all.immediate(n),
    );
    return row("sqlite FULL", m);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** node-postgres: one UPSERT per row against one UPSERT of eight rows. */
export async function pgGroupCeiling(url: string, quick: boolean): Promise<BenchRow> {
  const schema = `bench_${randomBytes(4).toString("hex")}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.checkpoints (processor text, partition text,
      cursor text, completed bigint, lease_expires_at bigint, updated_at bigint,
      PRIMARY KEY (processor, partition))`);
    const upsert = (rows: number) => ({
      name: `ceiling-${schema}-${rows}`,
      text: `INSERT INTO ${schema}.checkpoints VALUES ${Array.from(
        { length: rows },
        (_, i) =>
          `('ceiling', $${i * 5 + 1}, $${i * 5 + 2}, $${i * 5 + 3}, $${i * 5 + 4}, $${i * 5 + 5})`,
      ).join(", ")}
        ON CONFLICT (processor, partition) DO UPDATE SET cursor = EXCLUDED.cursor,
          completed = EXCLUDED.completed, lease_expires_at = EXCLUDED.lease_expires_at,
          updated_at = EXCLUDED.updated_at`,
    });
    const one = upsert(1);
    const all = upsert(ROWS);
    const values = (partition: string, n: number) => {
      const now = Date.now();
      return [partition, JSON.stringify(n), n, now + 30_000, now];
    };
    const m = await interleaved(
      quick ? 50 : 400,
      (partition, n) => client.query({ ...one, values: values(partition, n) }),
      (n) => client.query({ ...all, values: PARTITIONS.flatMap((p) => values(p, n)) }),
    );
    return row("postgres", m);
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await client.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const quick = process.argv.includes("--quick");
  const url =
    process.env.WAYMARK_BENCH_PG_URL ?? process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;
  const rows = [await sqliteGroupCeiling(quick)];
  if (url) rows.push(await pgGroupCeiling(url, quick));
  console.log(formatTable(rows));
}
