import { Backfill } from "./backfill.js";
import { defineProcessor, type Processor } from "./processor.js";
import { resolveRunOptions } from "./run-options.js";
import {
  describeCounts,
  type PartitionsResult,
  type RunPartitionsOptions,
  resolvePartitionsOptions,
} from "./run-partitions-options.js";
import { type RunUnit, unitsOf } from "./unit.js";

/**
 * Runs a processor on many partitions (a backfill), `concurrency` at a time in this process,
 * with the options of `run` for each, and resolves to a summary. This is what `waymark run`
 * does (`--partition`, `--partitions`, `--from/--to`), for a scheduler of your own.
 *
 * - Exactly once per backfill, across processes: any number of processes calling it with the
 *   same processor, version and partitions on one store share the backfill. Each claims the
 *   next partition nobody holds; one completed since the backfill began is not run again,
 *   whoever completed it, decided under its lease. A process with nothing left to claim asks
 *   the running partition with the most work left to split (see the processor's `split`) and
 *   runs the new shard, or waits for the holders, and resolves `completed` once every
 *   partition of the backfill has completed.
 * - A finished backfill of several partitions is finished: the same call again runs nothing
 *   (`rerunCompleted` runs it again, and so does a new processor `version`).
 * - One stop for all: aborting `signal` (or SIGTERM/SIGINT with `handleSignals`) stops every
 *   run at its batch boundary and starts no further partition; they are `not-started`. After a
 *   signal each run's batch in flight gets `shutdownGraceMs`, as under `run`.
 * - `deadline` and `timeBudgetMs` count for the whole call, waiting included.
 * - A sharded processor runs every shard of every partition.
 * - A failed partition does not stop the others; the summary lists it with its error.
 *
 * @example
 * const result = await runPartitions(summaries, {
 *   store,
 *   partitions: ["2024-01-01", "2024-01-02", "2024-01-03"],
 *   concurrency: 4,
 * });
 * if (result.status !== "completed") process.exitCode = result.status === "failed" ? 1 : 75;
 */
export async function runPartitions<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  options: RunPartitionsOptions<NoInfer<Tx>>,
): Promise<PartitionsResult> {
  const definition = defineProcessor(processor);
  let resolved = resolvePartitionsOptions(options);
  // Every run gets the same options but its partition: validating them once covers all.
  let base = resolveRunOptions(
    { ...resolved.run, partition: resolved.partitions[0] },
    "runPartitions",
  );
  const units: RunUnit[] = [];
  for (const partition of resolved.partitions) {
    units.push(...(await unitsOf(definition, partition)));
  }
  const display = base.progress
    ? (await import("./partitions-progress.js")).createPartitionsDisplay(
        definition.name,
        units.length,
      )
    : undefined;
  if (display?.logger && resolved.run.logger === undefined) {
    // Console lines written between redraws would tear the bars: they go above them instead.
    resolved = { ...resolved, run: { ...resolved.run, logger: display.logger } };
    base = { ...base, logger: display.logger };
  }
  const result = await new Backfill(definition, resolved, base, units, display).execute();
  display?.finish();
  base.logger.info(`${definition.name}: ${describeCounts(result)}.`);
  return result;
}
