import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import pg from "pg";
import { playersOn } from "../../examples/player-summaries/players.js";
import { summariesProcessor } from "../../examples/player-summaries/processor.js";
import {
  type PgClient,
  preparePostgres,
  prepareSqlite,
  type SqliteDb,
} from "../../examples/player-summaries/tables.js";
import {
  defineProcessor,
  PostgresStore,
  run,
  SqliteStore,
  type SqliteTx,
} from "../../src/index.js";
import { NO_SERVER, PG_TEST_URL } from "../stores/postgres-factory.js";

const DATE = "2024-01-15";
const OTHER_DATE = "2024-01-16";

interface Setup {
  store: SqliteStore | PostgresStore;
  db: PgClient | SqliteDb;
  rows(date?: string): Promise<Array<{ player_id: number; points: number }>>;
  close(): Promise<void>;
}

const setups: Array<{ name: string; skip: string | false; open(): Promise<Setup> }> = [
  {
    name: "SQLite",
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "waymark-summaries-"));
      const store = new SqliteStore(join(dir, "waymark.db"));
      prepareSqlite(store.database, [DATE, OTHER_DATE]);
      return {
        store,
        db: store.database,
        rows: async (date = DATE) =>
          store.database
            .prepare(
              "SELECT player_id, points FROM player_summaries WHERE game_date = ? ORDER BY 1",
            )
            .all(date) as Array<{ player_id: number; points: number }>,
        async close() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: "PostgreSQL",
    skip: NO_SERVER,
    async open() {
      const schema = `summaries_${Math.random().toString(36).slice(2, 10)}`;
      // The example's tables are unqualified: the pool's search_path puts them in a fresh schema.
      const pool = new pg.Pool({
        connectionString: PG_TEST_URL,
        max: 3,
        options: `-c search_path=${schema}`,
      });
      await pool.query(`CREATE SCHEMA ${schema}`);
      await preparePostgres(pool, [DATE, OTHER_DATE]);
      const store = await PostgresStore.open({ pool, schema });
      return {
        store,
        db: pool,
        rows: async (date = DATE) =>
          (
            await pool.query(
              "SELECT player_id, points FROM player_summaries WHERE game_date = $1 ORDER BY 1",
              [date],
            )
          ).rows,
        async close() {
          await store.close();
          await pool.query(`DROP SCHEMA ${schema} CASCADE`);
          await pool.end();
        },
      };
    },
  },
];

for (const setup of setups) {
  describe(`examples/player-summaries on ${setup.name}`, {
    skip: setup.skip,
    timeout: 60_000,
  }, () => {
    let env: Setup;
    beforeEach(async () => {
      env = await setup.open();
    });
    afterEach(async () => {
      await env.close();
    });

    it("writes every summary exactly once across a mid-run failure, a resume and a rerun", async () => {
      const { store, db } = env;
      const processor = summariesProcessor({ db, failOnce: 320 });
      const failed = await run(processor, { store, partition: DATE, logger: false });
      assert.equal(failed.status, "failed");
      assert.match(failed.error?.message ?? "", /Quota exceeded at player 320/);
      assert.equal(failed.total, 450, "counted from the same filter");
      assert.equal((await env.rows()).length, 300, "the failed batch (301-350) wrote nothing");

      const resumed = await run(processor, { store, partition: DATE, logger: false });
      assert.equal(resumed.status, "completed");
      assert.equal(resumed.resumedFrom, 300);
      assert.equal(resumed.processed, 150, "the resume read only players 301-450");
      const expected = playersOn(DATE).map((p) => ({ player_id: p.id, points: p.points }));
      assert.deepEqual(
        await env.rows(),
        expected,
        "450 summaries, one per player, with the right values",
      );

      const rerun = await run(summariesProcessor({ db }), {
        store,
        partition: DATE,
        logger: false,
      });
      assert.equal(rerun.processed, 450);
      assert.deepEqual(
        await env.rows(),
        expected,
        "rerunning the date merges instead of appending",
      );
      assert.deepEqual(await env.rows(OTHER_DATE), [], "the where kept the other date out");
    });
  });
}

describe("examples/player-summaries: DELETE-then-INSERT", () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-summaries-"));
    store = new SqliteStore(join(dir, "waymark.db"));
    prepareSqlite(store.database, [DATE]);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows why DELETE-then-INSERT is unsafe under resume: committed rows are lost", async () => {
    let fail = true;
    const deleteThenInsert = defineProcessor<{ id: number; points: number }, undefined, SqliteTx>({
      name: "delete-then-insert",
      retry: false,
      entities: ({ after }) =>
        playersOn(DATE).filter((p) => after === null || p.id > (after as number)),
      id: (p) => p.id,
      processBatch(players, ctx) {
        // "Reload the date": clear it at the start of the run, then insert.
        if (ctx.batchNumber === 1)
          ctx.tx.run("DELETE FROM player_summaries WHERE game_date = ?", DATE);
        for (const p of players) {
          if (p.id === 320 && fail) {
            fail = false;
            throw new Error("Quota exceeded");
          }
          ctx.tx.run(
            "INSERT INTO player_summaries VALUES (?, ?, 1, ?, 0, 0, 0)",
            DATE,
            p.id,
            p.points,
          );
        }
      },
    });
    await run(deleteThenInsert, { store, partition: DATE, logger: false });
    const resumed = await run(deleteThenInsert, { store, partition: DATE, logger: false });
    assert.equal(resumed.status, "completed");
    const { n } = store.database
      .prepare("SELECT COUNT(*) AS n FROM player_summaries WHERE game_date = ?")
      .get(DATE) as { n: number };
    assert.equal(n, 150, "the resume's DELETE removed players 1-300 for good");
  });
});
