import type { Game } from "./games.js";

/**
 * Online linear regression trained with SGD: margin ≈ home + rating[home] - rating[away].
 * The weights are a Float64Array: index 0 the home advantage, 1… one rating per team.
 */
export function newWeights(teams: number): Float64Array {
  return new Float64Array(teams + 1);
}

/**
 * One SGD step per game, in order; returns the summed squared error before each step.
 * Pure arithmetic on (weights, games): no clock, no randomness, so the same input gives the
 * same bits on every run, interrupted or not.
 */
export function train(weights: Float64Array, games: readonly Game[], learningRate: number): number {
  let squaredError = 0;
  for (const game of games) {
    const h = game.home + 1;
    const a = game.away + 1;
    const predicted = (weights[0] ?? 0) + (weights[h] ?? 0) - (weights[a] ?? 0);
    const error = predicted - game.margin;
    squaredError += error * error;
    const step = learningRate * error;
    weights[0] = (weights[0] ?? 0) - step;
    weights[h] = (weights[h] ?? 0) - step;
    weights[a] = (weights[a] ?? 0) + step;
  }
  return squaredError;
}

/** The weights' exact bits as hex: two runs agree bit for bit iff their hex is equal. */
export function weightsHex(weights: Float64Array): string {
  return Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength).toString("hex");
}

/** Weights from stored bytes (a copy, so they are aligned and ours to mutate). */
export function weightsFrom(bytes: Uint8Array): Float64Array {
  const copy = new Uint8Array(bytes);
  return new Float64Array(copy.buffer, 0, copy.byteLength / 8);
}
