/**
 * The inputs of the source benchmarks: the same customers as a PostgreSQL table, a SQLite
 * table and an NDJSON file (plain and gzip), each in a large and a small size.
 */

import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import Database from "better-sqlite3";
import type pg from "pg";

/** One customer line of the file, or row of the tables. */
export function customerLine(id: number): string {
  return `{"id":${id},"name":"customer ${id}","email":"c${id}@example.com","seats":${id % 50}}\n`;
}

/** Creates `schema.customers_N` with ids 1…N and its primary key, analyzed. */
export async function pgCustomers(pool: pg.Pool, schema: string, count: number): Promise<string> {
  const table = `${schema}.customers_${count}`;
  await pool.query(`CREATE TABLE ${table} (
    id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, seats int NOT NULL)`);
  await pool.query(
    `INSERT INTO ${table} SELECT g, 'customer ' || g, 'c' || g || '@example.com', g % 50
       FROM generate_series(1, $1) g`,
    [count],
  );
  await pool.query(`ANALYZE ${table}`);
  return table;
}

/** Creates `customers_N` with ids 1…N in the SQLite file at `path`. */
export function sqliteCustomers(path: string, count: number): string {
  const table = `customers_${count}`;
  const db = new Database(path);
  try {
    db.exec(`CREATE TABLE ${table} (
      id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, seats INTEGER NOT NULL)`);
    db.prepare(
      `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
       INSERT INTO ${table} SELECT n, 'customer ' || n, 'c' || n || '@example.com', n % 50 FROM g`,
    ).run(count);
  } finally {
    db.close();
  }
  return table;
}

/**
 * Writes `count` customer lines to `path`; resolves to the byte offset where line
 * `resumeLine + 1` starts (the cursor of a checkpoint after `resumeLine` lines).
 */
export async function ndjsonCustomers(
  path: string,
  count: number,
  resumeLine = 0,
): Promise<number> {
  const out = createWriteStream(path);
  let offset = 0;
  let resumeOffset = 0;
  let chunk = "";
  for (let id = 1; id <= count; id++) {
    const line = customerLine(id);
    chunk += line;
    offset += line.length; // ASCII: characters are bytes
    if (id === resumeLine) resumeOffset = offset;
    if (chunk.length >= 1 << 20 || id === count) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  out.end();
  await once(out, "finish");
  return resumeOffset;
}

/** Gzips `path` to `path.gz` at the fastest level. */
export async function gzipFile(path: string): Promise<string> {
  await pipeline(createReadStream(path), createGzip({ level: 1 }), createWriteStream(`${path}.gz`));
  return `${path}.gz`;
}
