import { defineProcessor, type SqliteTx } from "../../src/index.js";
import { type PlayerLine, playersOn } from "./players.js";

/** The summaries table: one row per (game date, player), whatever happens to the runs. */
export const SUMMARIES_TABLE = `CREATE TABLE IF NOT EXISTS player_summaries (
  game_date  TEXT    NOT NULL,
  player_id  INTEGER NOT NULL,
  minutes    INTEGER NOT NULL,
  points     INTEGER NOT NULL,
  rebounds   INTEGER NOT NULL,
  assists    INTEGER NOT NULL,
  efficiency REAL    NOT NULL,
  PRIMARY KEY (game_date, player_id))`;

// MERGE, not append: the key is the (game date, player) the row describes, so writing it
// again (a replayed batch, a rerun of the date) replaces it instead of adding a duplicate.
const UPSERT = `INSERT INTO player_summaries
    (game_date, player_id, minutes, points, rebounds, assists, efficiency)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (game_date, player_id) DO UPDATE SET
    minutes = excluded.minutes, points = excluded.points, rebounds = excluded.rebounds,
    assists = excluded.assists, efficiency = excluded.efficiency`;

/**
 * Per-player game summaries for one game date (the partition), written through `ctx.tx` so
 * that each batch's rows commit with its checkpoint. `failOnce` throws once when that player
 * is reached, to show a resume.
 */
export function summariesProcessor(options: { failOnce?: number } = {}) {
  let failAt = options.failOnce;
  return defineProcessor<PlayerLine, undefined, SqliteTx>({
    name: "player-game-summary",
    batchSize: 50,
    // The example fails a run on purpose to show the resume; no backoff in between.
    retry: false,
    entities: ({ partition, after }) =>
      playersOn(partition).filter((p) => after === null || p.id > (after as number)),
    id: (player) => player.id,
    count: ({ partition }) => playersOn(partition).length,
    processBatch(players, ctx) {
      for (const p of players) {
        if (p.id === failAt) {
          failAt = undefined;
          throw new Error(`Quota exceeded at player ${p.id}`);
        }
        const efficiency = (p.points + p.rebounds + p.assists) / p.minutes;
        ctx.tx.run(
          UPSERT,
          ctx.partition,
          p.id,
          p.minutes,
          p.points,
          p.rebounds,
          p.assists,
          efficiency,
        );
      }
    },
  });
}
