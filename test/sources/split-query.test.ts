import assert from "node:assert/strict";
import { beforeEach, it } from "node:test";
import {
  type Cursor,
  fromQuery,
  keyCursor,
  parseKeyCursor,
  type Source,
  sql,
} from "../../src/index.js";
import { seeded } from "../support/random.js";
import { describeEachDatabase, type SourceDatabase } from "./databases.js";
import { checkSplits } from "./split-contract.js";

// biome-ignore lint/suspicious/noExplicitAny: the contract holds for a source of any entity.
type AnySource = Source<any, Cursor>;

/**
 * Runs the split contract over `source` with a few `minimum`s; each half of a rest of 32 rows
 * or more must hold `balance` of it.
 */
async function contract(source: AnySource, partition: string, seed: number, balance: number) {
  const random = seeded(seed);
  let splits = 0;
  for (const minimum of [1, 4, 15]) {
    splits += await checkSplits({
      source,
      partition,
      random,
      rounds: 25,
      minimum,
      // Three bounded seeks tell exactly whether 2 * minimum rows are left.
      splits: (size) => size >= 2 * minimum,
      least: (size) => Math.max(minimum, size >= 32 ? Math.floor(size * balance) : 0),
    });
  }
  assert.ok(splits > 20, `${splits} splits`);
}

describeEachDatabase("fromQuery's split points", 120_000, (current, name) => {
  let database: SourceDatabase;
  beforeEach(() => {
    database = current();
  });
  const pg = () => database.dialect === "postgres";

  it("an integer key: a key of the partition's rows near their middle, by index seeks", async () => {
    const events = database.table("events");
    await database.exec(
      `CREATE TABLE ${events} (id ${pg() ? "bigint" : "INTEGER"} PRIMARY KEY, tenant TEXT NOT NULL)`,
    );
    await database.exec(`CREATE INDEX events_tenant ON ${events} (tenant, id)`);
    const random = seeded(31);
    const rows: Array<[number, string]> = [];
    for (let id = -5000, i = 0; i < 900; i++, id += 1 + Math.floor(random() * 50)) {
      rows.push([id, random() < 0.6 ? "acme" : "globex"]);
    }
    await database.insert(events, ["id", "tenant"], rows);
    const source = fromQuery<{ id: number; tenant: string }, "id">({
      db: database.db,
      table: events,
      key: "id",
      where: sql`tenant = ${sql.partition}`,
      pageSize: 16,
      logger: false,
    });
    await contract(source, "acme", 1, 0.2);
    // The other partition's rows are never a split point of this one, nor read by its halves.
    const point = await source.split?.({
      partition: "globex",
      after: null,
      to: null,
      minimum: 1,
      signal: new AbortController().signal,
    });
    assert.ok(rows.some(([id, tenant]) => id === point && tenant === "globex"));
  });

  it("a text key, in code point order, whatever the database's collation", async () => {
    const names = database.table("names");
    await database.exec(`CREATE TABLE ${names} (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
    const random = seeded(32);
    const alphabet = "ABCZabcxyz019-_.~ åéΩ";
    const keys = new Set<string>();
    while (keys.size < 700) {
      const length = 1 + Math.floor(random() * 8);
      keys.add(
        Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(""),
      );
    }
    await database.insert(
      names,
      ["name", "n"],
      [...keys].map((k, i) => [k, i]),
    );
    const source = fromQuery<{ name: string; n: number }, "name">({
      db: database.db,
      table: names,
      key: "name",
      pageSize: 16,
      logger: false,
    });
    // A few keys far above the rest in code points (Ω) make a first split small; the
    // holder's next rest no longer reaches them, so only the minimum is held to here.
    await contract(source, "all", 2, 0);
  });

  it("a composite key, and a where given as a function of the partition", async () => {
    const lines = database.table("player_lines");
    await database.exec(
      `CREATE TABLE ${lines} (season INTEGER NOT NULL, game_date TEXT NOT NULL,
           player_id INTEGER NOT NULL, PRIMARY KEY (season, game_date, player_id))`,
    );
    const random = seeded(33);
    const rows: Array<[number, string, number]> = [];
    for (const season of [2023, 2024]) {
      for (let day = 1; day <= 28; day += 1 + Math.floor(random() * 4)) {
        const date = `${season}-02-${String(day).padStart(2, "0")}`;
        for (let id = 1; id < 60; id += 1 + Math.floor(random() * 6)) {
          rows.push([season, date, id]);
        }
      }
    }
    await database.insert(lines, ["season", "game_date", "player_id"], rows);
    const source = fromQuery({
      db: database.db,
      table: lines,
      key: ["game_date", "player_id"],
      where: ({ partition }) => sql`season = ${Number(partition)}`,
      pageSize: 9,
      logger: false,
    });
    // The cut is made in the first column where the rest's ends differ: days of uneven
    // sizes keep it from the exact middle, so only the minimum is held to here.
    await contract(source, "2024", 3, 0);
    const point = await source.split?.({
      partition: "2024",
      after: keyCursor("2024-02-01", 0),
      to: null,
      minimum: 1,
      signal: new AbortController().signal,
    });
    const [day, id] = parseKeyCursor(String(point));
    assert.match(String(day), /^2024-02-\d\d$/);
    assert.equal(typeof id, "number");
  });

  it("passes over rows whose key is NULL, which the pages refuse when they reach them", async () => {
    const scores = database.table("scores");
    await database.exec(`CREATE TABLE ${scores} (id INTEGER, v INTEGER NOT NULL)`);
    await database.exec(`CREATE INDEX scores_id ON ${scores} (id)`);
    const rows = Array.from({ length: 40 }, (_, i) => [i % 10 === 0 ? null : i, i]);
    await database.insert(scores, ["id", "v"], rows);
    const source = fromQuery({ db: database.db, table: scores, key: "id", logger: false });
    const split = (after: number | null, to: number | null) =>
      source.split?.({
        partition: "p",
        after,
        to,
        minimum: 2,
        signal: new AbortController().signal,
      });
    assert.equal(await split(null, null), 19, "1 … 39 without 10, 20, 30: 36 ids");
    assert.equal(await split(35, null), 37);
    assert.equal(await split(36, null), null, "37, 38, 39: too few for two each");
  });

  // uuid and date columns are PostgreSQL's: on SQLite the case does not exist, so no test.
  if (name !== "postgres") return;
  it("PostgreSQL's uuid and date keys: points the column's type accepts", async () => {
    const items = database.table("items");
    const days = database.table("days");
    await database.exec(`CREATE TABLE ${items} (id uuid PRIMARY KEY)`);
    await database.exec(`CREATE TABLE ${days} (day date PRIMARY KEY)`);
    const random = seeded(34);
    const hex = (digits: number) =>
      Array.from({ length: digits }, () => Math.floor(random() * 16).toString(16)).join("");
    await database.insert(
      items,
      ["id"],
      Array.from({ length: 500 }, () => [`${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`]),
    );
    const start = Date.UTC(2020, 0, 1);
    await database.insert(
      days,
      ["day"],
      Array.from({ length: 600 }, (_, i) => [
        new Date(start + i * 2 * 86_400_000).toISOString().slice(0, 10),
      ]),
    );
    const uuid = fromQuery({ db: database.db, table: items, key: "id", logger: false });
    await contract(uuid, "all", 4, 0.2);
    const date = fromQuery({ db: database.db, table: days, key: "day", logger: false });
    await contract(date, "all", 5, 0.3);
  });
});
