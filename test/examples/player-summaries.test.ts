import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { playersOn } from "../../examples/player-summaries/players.js";
import { SUMMARIES_TABLE, summariesProcessor } from "../../examples/player-summaries/processor.js";
import { defineProcessor, run, SqliteStore, type SqliteTx } from "../../src/index.js";

const DATE = "2024-01-15";

describe("examples/player-summaries", () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-summaries-"));
    store = new SqliteStore(join(dir, "waymark.db"));
    store.database.exec(SUMMARIES_TABLE);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rows = () =>
    store.database
      .prepare("SELECT player_id, points FROM player_summaries WHERE game_date = ? ORDER BY 1")
      .all(DATE) as Array<{ player_id: number; points: number }>;

  it("writes every summary exactly once across a mid-run failure, a resume and a rerun", async () => {
    const processor = summariesProcessor({ failOnce: 320 });
    const failed = await run(processor, { store, partition: DATE, logger: false });
    assert.equal(failed.status, "failed");
    assert.match(failed.error?.message ?? "", /Quota exceeded at player 320/);
    assert.equal(rows().length, 300, "the failed batch (301-350) wrote nothing");

    const resumed = await run(processor, { store, partition: DATE, logger: false });
    assert.equal(resumed.status, "completed");
    assert.equal(resumed.resumedFrom, 300);
    const expected = playersOn(DATE).map((p) => ({ player_id: p.id, points: p.points }));
    assert.deepEqual(rows(), expected, "450 summaries, one per player, with the right values");

    const rerun = await run(summariesProcessor(), { store, partition: DATE, logger: false });
    assert.equal(rerun.processed, 450);
    assert.deepEqual(rows(), expected, "rerunning the date merges instead of appending");
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
    assert.equal(rows().length, 150, "the resume's DELETE removed players 1-300 for good");
  });
});
