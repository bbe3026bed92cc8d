import { defineProcessor, fromQuery, type PgTx, type SqliteTx, sql } from "../../src/index.js";
import { type PgClient, type SqliteDb, writeSummary } from "./tables.js";

export { SUMMARIES_TABLE } from "./tables.js";

/** One row of `player_lines`, as the processor reads it. */
export interface PlayerLineRow {
  readonly player_id: number;
  readonly minutes: number;
  readonly points: number;
  readonly rebounds: number;
  readonly assists: number;
}

/**
 * Per-player game summaries for one game date (the partition). The players come from the
 * `player_lines` table through `fromQuery`: keyset pages on `player_id` within the date,
 * counted for progress. Each batch's summaries are written through `ctx.tx`, so they commit
 * with its checkpoint. `failOnce` throws once when that player is reached, to show a resume.
 */
export function summariesProcessor(options: { db: PgClient | SqliteDb; failOnce?: number }) {
  let failAt = options.failOnce;
  return defineProcessor<PlayerLineRow, undefined, SqliteTx | PgTx>({
    name: "player-game-summary",
    batchSize: 50,
    // The example fails a run on purpose to show the resume; no backoff in between.
    retry: false,
    ...fromQuery<PlayerLineRow, "player_id">({
      db: options.db,
      table: "player_lines",
      key: "player_id",
      columns: ["player_id", "minutes", "points", "rebounds", "assists"],
      where: sql`game_date = ${sql.partition}`,
      pageSize: 200,
      count: true,
    }),
    async processBatch(players, ctx) {
      for (const p of players) {
        if (p.player_id === failAt) {
          failAt = undefined;
          throw new Error(`Quota exceeded at player ${p.player_id}`);
        }
        const efficiency = (p.points + p.rebounds + p.assists) / p.minutes;
        await writeSummary(ctx.tx, [
          ctx.partition,
          p.player_id,
          p.minutes,
          p.points,
          p.rebounds,
          p.assists,
          efficiency,
        ]);
      }
    },
  });
}
