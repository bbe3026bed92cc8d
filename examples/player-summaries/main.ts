// Summarises the 450 players of one game date from `player_lines` into `player_summaries`,
// resuming if a run died. Works on a SQLite file or a PostgreSQL database: the input, the
// summaries and the checkpoints all live in the one database. `--fail-once 320` makes the
// first run fail at player 320; it then runs again and resumes.
//
//   node --import tsx examples/player-summaries/main.ts --store sqlite:.waymark/summaries.db --date 2024-01-15
//   node --import tsx examples/player-summaries/main.ts --store postgres://localhost/app --fail-once 320
import { parseArgs } from "node:util";
import { MemoryStore, openStore, run, SqliteStore } from "../../src/index.js";
import { summariesProcessor } from "./processor.js";
import { countSummaries, type PgClient, preparePostgres, prepareSqlite } from "./tables.js";

const { values } = parseArgs({
  options: {
    store: { type: "string", default: "sqlite:.waymark/summaries.db" },
    date: { type: "string", default: "2024-01-15" },
    "fail-once": { type: "string" },
  },
});
const date = values.date;
// A bare path is a SQLite file, as before the store URLs.
const url = /^[a-z]+:/.test(values.store) ? values.store : `sqlite:${values.store}`;
const store = await openStore(url);
// The summaries are written through SqliteTx or PgTx: a memory store has neither.
if (store instanceof MemoryStore) throw new Error("--store must be sqlite:PATH or postgres://…");
let db: PgClient | SqliteStore["database"];
let close = async () => {};
if (store instanceof SqliteStore) {
  db = store.database;
  prepareSqlite(db, [date]);
} else {
  // The input lives in the same PostgreSQL database; pg is needed for it anyway.
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  db = pool;
  close = () => pool.end();
  await preparePostgres(pool, [date]);
}
const failOnce = values["fail-once"] ? Number(values["fail-once"]) : undefined;
const processor = summariesProcessor({ db, failOnce });
let result = await run(processor, { store, partition: date });
if (result.status === "failed") result = await run(processor, { store, partition: date });
const count = await countSummaries(db, date);
console.log(`${result.status}: ${count} summaries for ${date}`);
await close();
await store.close();
process.exitCode = result.status === "completed" ? 0 : 1;
