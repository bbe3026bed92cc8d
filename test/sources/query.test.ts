import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { z } from "zod";
import {
  type Cursor,
  defineProcessor,
  fromQuery,
  InvalidOptionError,
  keyCursor,
  type Logger,
  type Processor,
  type QueryDatabase,
  run,
  type Source,
  sql,
  WaymarkError,
} from "../../src/index.js";
import type { PgQueryable } from "../../src/sources/query-postgres.js";
import type { SqliteDatabase } from "../../src/sources/query-sqlite.js";
import { seeded } from "../support/random.js";
import { until } from "../support/time.js";
import { SOURCE_DATABASES, type SourceDatabase } from "./databases.js";

/** Collects warnings, to check what a source reported. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug() {},
    info() {},
    error() {},
    warn: (m: string) => void warnings.push(m),
  };
}

/**
 * Runs `source` to completion through runs that fail at random batches (each failure leaves
 * the last committed batch as the checkpoint). Resolves to the entities of the batches that
 * committed, in the order they did, and the number of runs.
 */
async function runWithRandomStops<E>(
  name: string,
  source: Source<E, Cursor>,
  database: SourceDatabase,
  partition: string,
  seed: number,
) {
  const random = seeded(seed);
  const committed: E[] = [];
  let failing = false;
  const processor = defineProcessor<E, undefined, unknown, Cursor>({
    name,
    batchSize: 5,
    retry: false,
    ...source,
    processBatch(batch) {
      if (failing && random() < 0.15) throw new Error("a random stop");
      committed.push(...batch);
    },
  } as Parameters<typeof defineProcessor<E, undefined, unknown, Cursor>>[0]);
  let runs = 0;
  for (;;) {
    failing = runs < 12; // then let it finish
    const result = await run(processor as Processor<E>, {
      store: database.store,
      partition,
      logger: false,
    });
    runs++;
    if (result.status === "completed") return { committed, runs };
    assert.equal(result.status, "failed", result.error?.message);
    assert.match(result.error?.message ?? "", /a random stop/);
  }
}

for (const { name, skip, open } of SOURCE_DATABASES) {
  describe(`fromQuery on ${name}`, { timeout: 60_000, skip }, () => {
    let database: SourceDatabase;
    beforeEach(async () => {
      database = await open();
    });
    afterEach(async () => {
      await database.close();
    });
    const pg = () => database.dialect === "postgres";

    it("reads every row of the partition exactly once, in key order, across random stops", async () => {
      const events = database.table("events");
      await database.exec(
        `CREATE TABLE ${events} (id ${pg() ? "bigint" : "INTEGER"} PRIMARY KEY, tenant TEXT NOT NULL, body TEXT)`,
      );
      const random = seeded(1);
      const rows: Array<[number, string, string]> = [];
      for (let id = 1, i = 0; i < 400; i++, id += 1 + Math.floor(random() * 1000)) {
        rows.push([id, random() < 0.5 ? "acme" : "globex", `event ${i}`]);
      }
      await database.insert(events, ["id", "tenant", "body"], rows);
      const source = fromQuery<{ id: number; tenant: string; body: string }, "id">({
        db: database.db,
        table: events,
        key: "id",
        where: sql`tenant = ${sql.partition}`,
        pageSize: 7,
        count: true,
        logger: false,
      });
      const { committed, runs } = await runWithRandomStops("events", source, database, "acme", 2);
      const expected = rows.filter((r) => r[1] === "acme").map((r) => r[0]);
      assert.deepEqual(
        committed.map((e) => Number(e.id)),
        expected,
      );
      assert.ok(runs > 3, `stopped and resumed (${runs} runs)`);
      assert.equal(await source.count?.({ partition: "acme" }), expected.length);
    });

    it("orders a composite key whose first column repeats, across random stops", async () => {
      const lines = database.table("player_lines");
      await database.exec(
        `CREATE TABLE ${lines} (game_date ${pg() ? "date" : "TEXT"} NOT NULL, player_id INTEGER NOT NULL,
           points INTEGER NOT NULL, PRIMARY KEY (game_date, player_id))`,
      );
      const random = seeded(3);
      const rows: Array<[string, number, number]> = [];
      for (const date of ["2024-01-14", "2024-01-15", "2024-01-16"]) {
        for (let id = -40; id < 120; id += 1 + Math.floor(random() * 3)) {
          rows.push([date, id, Math.floor(random() * 40)]);
        }
      }
      await database.insert(lines, ["game_date", "player_id", "points"], [...rows].reverse());
      const source = fromQuery({
        db: database.db,
        table: lines,
        key: ["game_date", "player_id"],
        pageSize: 11,
        logger: false,
      });
      const { committed } = await runWithRandomStops("lines", source, database, "all", 4);
      assert.deepEqual(
        committed.map((e) => [source.id(e), e.points]),
        rows.map(([date, id, points]) => [keyCursor(date, id), points]),
      );
    });

    it("orders a text key by code unit, whatever the database's collation", async () => {
      const names = database.table("names");
      await database.exec(`CREATE TABLE ${names} (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
      const keys = [
        "apple",
        "Banana",
        "banana",
        "Zed",
        "zed",
        "a b",
        "a",
        "ángel",
        "Ωmega",
        "~",
        "10",
        "9",
      ];
      await database.insert(
        names,
        ["name", "n"],
        keys.map((k, i) => [k, i]),
      );
      const source = fromQuery<{ name: string; n: number }, "name">({
        db: database.db,
        table: names,
        key: "name",
        pageSize: 2,
        logger: false,
      });
      const { committed } = await runWithRandomStops("names", source, database, "all", 5);
      assert.deepEqual(
        committed.map((e) => e.name),
        [...keys].sort(),
      );
    });

    it("refuses NULL in the key with an error that names the column, keeping the checkpoint", async () => {
      const items = database.table("items");
      await database.exec(`CREATE TABLE ${items} (sku TEXT, qty INTEGER NOT NULL)`);
      const skus = Array.from({ length: 30 }, (_, i) => `sku-${String(i).padStart(2, "0")}`);
      await database.insert(
        items,
        ["sku", "qty"],
        skus.map((s, i) => [s, i]),
      );
      const seen: string[] = [];
      const processor = defineProcessor({
        name: "items",
        batchSize: 5,
        retry: false,
        ...fromQuery<{ sku: string; qty: number }, "sku">({
          db: database.db,
          table: items,
          key: "sku",
          pageSize: 10,
          logger: false,
        }),
        processBatch(batch) {
          seen.push(...batch.map((i) => i.sku));
          if (seen.length === 10) throw new Error("stop after two batches");
        },
      });
      const first = await run(processor, { store: database.store, partition: "p", logger: false });
      assert.equal(first.status, "failed");
      assert.equal(first.completed, 5);
      // A row with a NULL key arrives after the checkpoint was written.
      await database.insert(items, ["sku", "qty"], [[null, 99]]);
      const second = await run(processor, { store: database.store, partition: "p", logger: false });
      assert.equal(second.status, "failed");
      assert.ok(second.error instanceof WaymarkError);
      assert.equal(second.error.code, "INVALID_ENTITY");
      assert.match(second.error.message, /NULL in key column "sku"/);
      assert.match(second.error.message, /IS NOT NULL/);
      assert.equal(second.resumedFrom, 5, "the resume started from the kept checkpoint");
    });

    it("refuses a key JavaScript cannot hold exactly, after committing the rows before it", async () => {
      const big = database.table("big_ids");
      await database.exec(`CREATE TABLE ${big} (id BIGINT NOT NULL, v INTEGER NOT NULL)`);
      // 2^53 + 1: node-postgres gives it as a string, better-sqlite3 as 2^53 already rounded.
      const ids = ["1", "2", "3", "4", "9007199254740993"];
      // SQLite stores a fraction in an INTEGER-affinity column as REAL: no cursor either.
      if (!pg()) ids.splice(4, 0, "4.5");
      await database.insert(
        big,
        ["id", "v"],
        ids.map((id, i) => [pg() ? id : Number(id), i]),
      );
      const seen: unknown[] = [];
      const processor = defineProcessor({
        name: "big-ids",
        batchSize: 2,
        retry: false,
        ...fromQuery<{ id: number; v: number }, "id">({
          db: database.db,
          table: big,
          key: "id",
          logger: false,
        }),
        processBatch(batch) {
          seen.push(...batch.map((row) => Number(row.id)));
        },
      });
      const result = await run(processor, { store: database.store, partition: "p", logger: false });
      assert.equal(result.status, "failed");
      assert.ok(result.error instanceof WaymarkError);
      assert.equal(result.error.code, "INVALID_ENTITY");
      assert.match(result.error.message, /key column "id" holds/);
      assert.deepEqual(seen, [1, 2, 3, 4], "the batches before the refused row committed");
      assert.equal(result.completed, 4);
    });

    it("keeps a where value a parameter: an injection string is data", async () => {
      const users = database.table("users");
      await database.exec(`CREATE TABLE ${users} (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`);
      const evil = "x' OR '1'='1'; DROP TABLE users; --";
      await database.insert(
        users,
        ["id", "name"],
        [
          [1, "alice"],
          [2, evil],
          [3, "bob"],
        ],
      );
      const read = async (source: Source<{ id: number; name: string }, Cursor>) => {
        const found: string[] = [];
        for await (const row of (await source.entities({
          partition: evil,
          after: null,
        })) as AsyncIterable<{
          name: string;
        }>) {
          found.push(row.name);
        }
        return found;
      };
      const options = { db: database.db, table: users, key: "id", logger: false } as const;
      assert.deepEqual(await read(fromQuery({ ...options, where: sql`name = ${evil}` })), [evil]);
      assert.deepEqual(await read(fromQuery({ ...options, where: sql`name = ${sql.partition}` })), [
        evil,
      ]);
      const raw = pg()
        ? { text: "name = $1", values: [evil] }
        : { text: "name = ?", values: [evil] };
      assert.deepEqual(await read(fromQuery({ ...options, where: () => raw })), [evil]);
      assert.deepEqual(await read(fromQuery({ ...options, where: sql`name = ${"bob"}` })), ["bob"]);
      assert.throws(
        () => fromQuery({ ...options, where: `name = '${evil}'` as never }),
        (error: unknown) =>
          error instanceof InvalidOptionError &&
          error.option === "where" &&
          /write it with the sql tag/.test(error.message),
      );
    });

    it("decodes rows with a zod schema and names the row a decoder rejects", async () => {
      const scores = database.table("scores");
      await database.exec(`CREATE TABLE ${scores} (id INTEGER PRIMARY KEY, score INTEGER)`);
      await database.insert(
        scores,
        ["id", "score"],
        [
          [1, 10],
          [2, 20],
          [3, null],
        ],
      );
      const Score = z.object({ id: z.number(), score: z.number() });
      const seen: number[] = [];
      const processor = defineProcessor({
        name: "scores",
        batchSize: 1,
        retry: false,
        ...fromQuery({ db: database.db, table: scores, key: "id", decode: Score, logger: false }),
        processBatch(batch) {
          seen.push(...batch.map((s) => s.score * 2));
        },
      });
      const result = await run(processor, { store: database.store, partition: "p", logger: false });
      assert.equal(result.status, "failed");
      assert.deepEqual(seen, [20, 40]);
      assert.equal((result.error as WaymarkError).code, "INVALID_ENTITY");
      assert.match(result.error?.message ?? "", /decode rejected the row with key \[3\]/);
      assert.equal(result.completed, 2, "the rows before it stay committed");
    });

    it("reads a shard's range of the key and counts it, with a composite key's bounds", async () => {
      const lines = database.table("lines");
      await database.exec(
        `CREATE TABLE ${lines} (day TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (day, n))`,
      );
      const rows = ["a", "b", "c"].flatMap((day) => [1, 2, 3, 4].map((n) => [day, n]));
      await database.insert(lines, ["day", "n"], rows);
      const seen = new Map<number, string[]>();
      const source = fromQuery({
        db: database.db,
        table: lines,
        key: ["day", "n"],
        pageSize: 2,
        count: true,
        logger: false,
      });
      const processor = defineProcessor({
        name: "sharded-lines",
        ...source,
        shards: () => [
          { id: 0, to: keyCursor("b", 2) },
          { id: 1, from: keyCursor("b", 2) },
        ],
        processBatch(batch, ctx) {
          const id = (ctx as unknown as { shard: { id: number } }).shard.id;
          seen.set(id, [...(seen.get(id) ?? []), ...batch.map((r) => `${r.day}${r.n}`)]);
        },
      });
      const totals = [];
      for (const shard of [0, 1]) {
        const result = await run(processor, {
          store: database.store,
          partition: "p",
          shard,
          logger: false,
        });
        assert.equal(result.status, "completed", result.error?.message);
        totals.push(result.total);
      }
      assert.deepEqual(seen.get(0), ["a1", "a2", "a3", "a4", "b1", "b2"]);
      assert.deepEqual(seen.get(1), ["b3", "b4", "c1", "c2", "c3", "c4"]);
      assert.deepEqual(totals, [6, 6]);
    });

    it("warns once when no index serves the key order, and not when one does", async () => {
      const facts = database.table("facts");
      await database.exec(`CREATE TABLE ${facts} (n INTEGER NOT NULL, m INTEGER NOT NULL)`);
      await database.exec(
        pg()
          ? `INSERT INTO ${facts} SELECT g, g FROM generate_series(1, 30000) g`
          : `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 30000)
             INSERT INTO ${facts} SELECT n, n FROM g`,
      );
      await database.exec(`ANALYZE ${facts}`);
      // Counts the plans read, so the test can wait for both checks (they run in the background).
      let explained = 0;
      const counted = (text: string) => {
        if (text.startsWith("EXPLAIN")) explained++;
      };
      const db = pg()
        ? {
            query: (text: string, values?: unknown[]) =>
              (database.db as PgQueryable).query(text, values).finally(() => counted(text)),
          }
        : {
            prepare(text: string) {
              const statement = (database.db as SqliteDatabase).prepare(text);
              return {
                all: (...params: unknown[]) => [statement.all(...params), counted(text)][0],
              };
            },
          };
      const drain = async (key: "n" | "m", logger: Logger) => {
        const source = fromQuery({
          db: db as QueryDatabase,
          table: facts,
          key,
          pageSize: 1000,
          logger,
        });
        for (const after of [null, 100]) {
          const rows = (await source.entities({ partition: "p", after })) as AsyncIterable<unknown>;
          for await (const _ of rows) break;
        }
      };
      await database.exec(`CREATE INDEX facts_m ON ${facts} (m)`);
      const indexed = recordingLogger();
      await drain("m", indexed);
      const missing = recordingLogger();
      await drain("n", missing);
      await until("both index checks", () => explained === 2, { timeoutMs: 20_000 });
      assert.equal(missing.warnings.length, 1, "one warning, however many reads");
      assert.match(missing.warnings[0] ?? "", /no index serves ORDER BY "n"/);
      assert.match(missing.warnings[0] ?? "", /CREATE INDEX ON .*\("n"\)/);
      assert.deepEqual(indexed.warnings, []);
      // Nothing awaits the check: a logger that throws there must not become an unhandled
      // rejection, which would take a user's process down after its run ended.
      let threw = 0;
      const throwing = {
        ...recordingLogger(),
        warn() {
          threw++;
          throw new Error("the logger broke");
        },
      };
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      try {
        await drain("n", throwing);
        await until("the third index check", () => threw === 1, { timeoutMs: 20_000 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(unhandled, []);
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
    });

    it("refuses bad options with an error that names the option", () => {
      const fails = (options: object, option: string, message: RegExp) =>
        assert.throws(
          () => fromQuery({ db: database.db, table: "t", key: "id", ...options } as never),
          (error: unknown) =>
            error instanceof InvalidOptionError &&
            error.option === option &&
            message.test(error.message),
        );
      fails({ pageSize: 0 }, "pageSize", /`pageSize`: expected an integer from 1 and up/);
      fails({ db: {} }, "db", /expected a pg Pool or Client, or a better-sqlite3 Database/);
      fails({ key: [] }, "key", /`key`: expected at least one key column/);
      fails({ key: ["id", "id"] }, "key", /`key`: expected each key column once/);
      fails({ columns: "v" }, "columns", /`columns`: expected an array of column names/);
      fails(
        { table: "" },
        "table",
        /^Invalid fromQuery option `table`: expected a non-empty name, got ""/,
      );
      fails({ colums: ["a"] }, "colums", /Unknown fromQuery option `colums`/);
      fails({ decode: 42 }, "decode", /schema with parse/);
      fails({ logger: {} }, "logger", /debug, info, warn and error methods/);
    });
  });
}

describe("fromQuery on PostgreSQL reads ahead", { skip: SOURCE_DATABASES[1]?.skip }, () => {
  it("fetches the next page while the current batch is processed", async () => {
    const database = await SOURCE_DATABASES[1]!.open();
    try {
      const table = database.table("ahead");
      await database.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY)`);
      await database.exec(`INSERT INTO ${table} SELECT g FROM generate_series(1, 50) g`);
      const pool = database.db as {
        query(text: string, values?: unknown[]): Promise<{ rows: object[] }>;
      };
      let pageQueries = 0;
      const counting = {
        query(text: string, values?: unknown[]) {
          if (text.includes("ORDER BY")) pageQueries++;
          return pool.query(text, values);
        },
      };
      const issuedDuringBatch: number[] = [];
      const processor = defineProcessor({
        name: "ahead",
        batchSize: 10,
        ...fromQuery({ db: counting, table, key: "id", pageSize: 10, checkIndex: false }),
        processBatch() {
          issuedDuringBatch.push(pageQueries);
        },
      });
      const result = await run(processor, { store: database.store, partition: "p", logger: false });
      assert.equal(result.processed, 50);
      // While batch k (pages of 10) is processed, page k+1 has already been asked for.
      assert.deepEqual(issuedDuringBatch, [2, 3, 4, 5, 6]);
    } finally {
      await database.close();
    }
  });
});

describe("keyCursor", () => {
  it("compares as the key tuples compare", () => {
    const random = seeded(7);
    const words = ["", "a", "ab", "b", "B", "ä", "a b", "zz", "10", "9"];
    const tuples = Array.from({ length: 300 }, () => [
      words[Math.floor(random() * words.length)] as string,
      Math.trunc((random() - 0.5) * (2 ** 53 - 2)),
      Math.floor(random() * 5) - 2,
    ]) as Array<[string, number, number]>;
    const byTuple = [...tuples].sort((x, y) => {
      for (let i = 0; i < 3; i++) {
        if (x[i]! < y[i]!) return -1;
        if (x[i]! > y[i]!) return 1;
      }
      return 0;
    });
    const byCursor = [...tuples].sort((x, y) => {
      const a = keyCursor(...x);
      const b = keyCursor(...y);
      return a < b ? -1 : a > b ? 1 : 0;
    });
    assert.deepEqual(byCursor, byTuple);
  });
});
