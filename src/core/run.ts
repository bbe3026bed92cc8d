import { defineProcessor, type Processor } from "./processor.js";
import { type ResolvedRunOptions, type RunOptions, resolveRunOptions } from "./run-options.js";
import type { RunResult } from "./run-result.js";
import { Runner, type UnitClaim, type UnitOutcome } from "./runner.js";
import { type RunUnit, unitOfRun } from "./unit.js";

export type { UnitClaim, UnitOutcome } from "./runner.js";

/**
 * Runs a processor on one partition: takes the lease, resumes after the last committed
 * cursor, processes and commits batch by batch, clears the checkpoint on success and
 * records the run in history. Invalid options reject; everything else resolves to a result.
 *
 * @example
 * const result = await run(summaries, { partition: "2024-01-15", store });
 * if (result.status === "failed") console.error(result.error);
 */
export async function run<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  // NoInfer: Tx comes from the processor alone, so a store without that Tx is refused.
  options: RunOptions<NoInfer<Tx>>,
): Promise<RunResult<S>> {
  const resolved = resolveRunOptions(options);
  const definition = defineProcessor(processor);
  const unit = await unitOfRun(definition, resolved.partition, resolved.shard);
  // Loaded only when asked for: a run without a progress display never loads cli-progress.
  const progress = resolved.progress
    ? (await import("./progress.js")).attachProgress(definition.name, resolved)
    : undefined;
  const outcome = await new Runner(definition, unit, progress?.options ?? resolved, {}).execute();
  // Without `completedSince` a claim always runs (an absent split-off shard is `skipped`).
  const result = (outcome as Extract<UnitOutcome<S>, { kind: "ran" }>).result;
  progress?.finish(result);
  return result;
}

/**
 * Claims one unit for a backfill or a queue worker and runs it: the same runner as `run`, with
 * the claim decided under the lease (`completedSince`) and split requests answered. Options
 * are resolved already; the processor is defined.
 */
export function runUnit<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  options: ResolvedRunOptions,
  unit: RunUnit,
  claim: UnitClaim,
): Promise<UnitOutcome<S>> {
  return new Runner(processor, unit, options, claim).execute();
}
