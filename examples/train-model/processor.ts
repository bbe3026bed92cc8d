import { defineProcessor, type SqliteStore, type SqliteTx } from "../../src/index.js";
import { type Game, generateGames } from "./games.js";
import { newWeights, train, weightsFrom } from "./model.js";

/** Where a run can be told to die, to show that every point resumes to the same bits. */
export type KillPhase = "before-put" | "during-put" | "after-put";

/** How the training run is shaped. Same settings, same games, same model. */
export interface TrainingSettings {
  readonly seed: number;
  readonly games: number;
  readonly teams: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Called inside `processBatch` at each phase of (global, 1-based) batch `batch`. */
  readonly onPhase?: (phase: KillPhase, batch: number) => void;
}

/** The defaults the demo uses: 4,000 games of 30 teams in batches of 100. */
export const DEFAULT_SETTINGS: TrainingSettings = {
  seed: 42,
  games: 4000,
  teams: 30,
  batchSize: 100,
  learningRate: 0.01,
};

/** The trained model, published once the last game is learned. */
export const MODELS_TABLE = `CREATE TABLE IF NOT EXISTS trained_models (
  name TEXT PRIMARY KEY, games INTEGER NOT NULL, weights BLOB NOT NULL)`;

/** What the checkpoint's JSON state carries; the weights live in the `weights` artifact. */
export interface TrainingState {
  games: number;
  /** Summed squared error of the last batch, before its updates. */
  lastBatchSquaredError: number;
}

/**
 * The training processor: one batch of games = one SGD pass over them, the weights kept as an
 * artifact that commits with the cursor. Needs a SqliteStore (the model is published through
 * `ctx.tx`); create `MODELS_TABLE` first.
 */
export function trainingProcessor(settings: TrainingSettings = DEFAULT_SETTINGS) {
  const games = generateGames(settings.seed, settings.games, settings.teams);
  return defineProcessor<Game, TrainingState, SqliteTx>({
    name: "train-model",
    batchSize: settings.batchSize,
    // A dead runner's lease blocks its partition until it expires; keep that short here.
    leaseTtlMs: 2000,
    entities: ({ after }) => games.filter((g) => after === null || g.id > (after as number)),
    id: (game) => game.id,
    count: () => games.length,
    fingerprint: () => `seed=${settings.seed} games=${settings.games} teams=${settings.teams}`,
    initialState: () => ({ games: 0, lastBatchSquaredError: 0 }),
    async processBatch(batch, ctx) {
      const index = Math.ceil((batch[0]?.id ?? 1) / settings.batchSize);
      settings.onPhase?.("before-put", index);
      const stored = await ctx.artifacts.getBuffer("weights");
      const weights = stored ? weightsFrom(stored) : newWeights(settings.teams);
      ctx.state.lastBatchSquaredError = train(weights, batch, settings.learningRate);
      ctx.state.games += batch.length;
      const bytes = Buffer.from(weights.buffer);
      await ctx.artifacts.put(
        "weights",
        halves(bytes, () => settings.onPhase?.("during-put", index)),
      );
      settings.onPhase?.("after-put", index);
      if (batch.at(-1)?.id === games.length) {
        ctx.tx.run(
          `INSERT INTO trained_models (name, games, weights) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET games = excluded.games, weights = excluded.weights`,
          "train-model",
          ctx.state.games,
          bytes,
        );
      }
    },
  });
}

/** The published model of a completed run, or null. */
export function publishedWeights(store: SqliteStore): Buffer | null {
  const row = store.database
    .prepare("SELECT weights FROM trained_models WHERE name = 'train-model'")
    .get() as { weights: Buffer } | undefined;
  return row?.weights ?? null;
}

/** Streams `bytes` in two pieces, calling `between` once the first is handed over. */
async function* halves(bytes: Buffer, between: () => void): AsyncGenerator<Uint8Array> {
  const middle = Math.floor(bytes.length / 2);
  yield bytes.subarray(0, middle);
  between();
  yield bytes.subarray(middle);
}
