import { setTimeout as sleep } from "node:timers/promises";
import { defineProcessor, type Processor } from "../core/processor.js";

/**
 * The demo's scenario: one game date's 450 player summaries, computed in batches of 50
 * against an API that runs out of quota on the batch of players 301-350.
 * Written against the public API only, as a user's processor would be.
 */

/** One player of the game date. */
export interface Player {
  readonly id: number;
  readonly points: number;
}

/** What the processor carries in its checkpoint: summaries written and points counted. */
export interface SummaryState {
  summaries: number;
  points: number;
}

/** The partition every demo run covers. */
export const GAME_DATE = "2024-01-15";

/** How the scenario behaves: its size and where and how often the quota runs out. */
export interface ScenarioOptions {
  /** The processor's name in the store. */
  readonly name: string;
  readonly players: number;
  readonly batchSize: number;
  /** Simulated work per batch (the API call), in ms. */
  readonly batchMs: number;
  /** The player whose batch hits the quota error. */
  readonly failAtPlayer: number;
  /** Whether the quota is still exhausted; the demo lifts it after the first failure. */
  readonly quotaExhausted: () => boolean;
}

/** The simulated error of a third-party API out of quota. */
export class QuotaExceededError extends Error {
  constructor(player: number) {
    super(`API quota exceeded while summarising player ${player} (simulated 429)`);
    this.name = "QuotaExceededError";
  }
}

/** The game date's players, ascending by id, strictly after `after`, produced lazily. */
function* playersAfter(count: number, after: number | null): Generator<Player> {
  for (let id = (after ?? 0) + 1; id <= count; id++) yield { id, points: (id * 7) % 31 };
}

/** The player-game-summary processor of the scenario. */
export function playerSummaries(options: ScenarioOptions): Processor<Player, SummaryState> {
  return defineProcessor<Player, SummaryState>({
    name: options.name,
    batchSize: options.batchSize,
    // The scenario is about what a failed run leaves behind: the quota error ends the run.
    retry: false,
    entities: ({ after }) => playersAfter(options.players, after),
    id: (player) => player.id,
    count: () => options.players,
    initialState: () => ({ summaries: 0, points: 0 }),
    async processBatch(players, ctx) {
      // The API call: the work a restart without a checkpoint has to do again.
      await sleep(options.batchMs, undefined, { signal: ctx.signal });
      const first = players[0]?.id ?? 0;
      const last = players[players.length - 1]?.id ?? 0;
      if (
        options.quotaExhausted() &&
        first <= options.failAtPlayer &&
        options.failAtPlayer <= last
      ) {
        throw new QuotaExceededError(options.failAtPlayer);
      }
      for (const player of players) {
        ctx.state.summaries += 1;
        ctx.state.points += player.points;
      }
    },
  });
}
