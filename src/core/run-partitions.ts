import { performance } from "node:perf_hooks";
import { type BackfillPlan, planBackfill } from "./backfill-plan.js";
import { InvalidOptionError } from "./errors.js";
import { resolveDeadline } from "./policies/deadline.js";
import { onStopSignal } from "./policies/process-signals.js";
import { defineProcessor, type Processor } from "./processor.js";
import { run } from "./run.js";
import type { ResolvedRunOptions, RunProgress } from "./run-options.js";
import { resolveRunOptions } from "./run-options.js";
import {
  describeCounts,
  emptyCounts,
  overallStatus,
  type PartitionOutcome,
  type PartitionsDisplay,
  type PartitionsResult,
  type PartitionUnit,
  type ResolvedPartitionsOptions,
  type RunPartitionsOptions,
  resolvePartitionsOptions,
} from "./run-partitions-options.js";
import type { RunResult } from "./run-result.js";
import { listShards } from "./shards.js";
import { GuardedStore } from "./store/guarded-store.js";

/**
 * Runs a processor on many partitions, `concurrency` at a time in this process, with the
 * options of `run` for each, and resolves to a summary. This is what `waymark run` does for
 * a backfill (`--from/--to`, `--partitions`), for a scheduler of your own.
 *
 * - One stop for all: aborting `signal` (or SIGTERM/SIGINT with `handleSignals`) stops every
 *   run at its batch boundary and starts no further partition; they are `not-started`.
 * - `deadline` and `timeBudgetMs` count for the whole call, not for each partition.
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
  const units = await planUnits(definition, resolved.partitions);
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
  return result;
}

/** Every partition, or every shard of every partition for a processor with `shards`. */
async function planUnits(
  processor: Processor<unknown, unknown, unknown>,
  partitions: readonly string[],
): Promise<PartitionUnit[]> {
  if (!processor.shards) return partitions.map((partition) => ({ partition }));
  const units: PartitionUnit[] = [];
  for (const partition of partitions) {
    for (const shard of await listShards(processor, partition)) {
      units.push({ partition, shard: shard.id });
    }
  }
  return units;
}

class Backfill<E, S, Tx> {
  readonly #processor: Processor<E, S, Tx>;
  readonly #options: ResolvedPartitionsOptions;
  readonly #base: ResolvedRunOptions;
  readonly #units: readonly PartitionUnit[];
  readonly #display: PartitionsDisplay | undefined;
  readonly #stop = new AbortController();
  /**
   * Each running partition's own stop. The backfill aborts them when it stops, rather than
   * every run listening to one shared signal: 64 runs at once would add 64 listeners to it
   * and set off Node's MaxListenersExceededWarning.
   */
  readonly #runStops = new Set<AbortController>();
  readonly #deadline: number | null;
  readonly #outcomes: PartitionOutcome[] = [];
  readonly #startedPerf = performance.now();
  #next = 0;
  #outOfTime = false;
  /** Units that completed earlier in this backfill: not run again. */
  #done: ReadonlySet<number> = new Set();

  constructor(
    processor: Processor<E, S, Tx>,
    options: ResolvedPartitionsOptions,
    base: ResolvedRunOptions,
    units: readonly PartitionUnit[],
    display: PartitionsDisplay | undefined,
  ) {
    this.#processor = processor;
    this.#options = options;
    this.#base = base;
    this.#units = units;
    this.#display = display;
    this.#deadline = resolveDeadline(base, base.now());
  }

  async execute(): Promise<PartitionsResult> {
    const { logger, signal, handleSignals } = this.#base;
    const stopAll = () => {
      if (this.#stop.signal.aborted) return;
      this.#stop.abort(signal?.reason);
      for (const stop of this.#runStops) stop.abort(signal?.reason);
    };
    if (signal?.aborted) stopAll();
    signal?.addEventListener("abort", stopAll, { once: true });
    const unsubscribe = handleSignals ? onStopSignal(stopAll) : () => {};
    const workers = Math.min(this.#options.concurrency, this.#units.length);
    logger.info(`Running ${this.#processor.name} on ${this.#noun()} (concurrency ${workers}).`);
    const store = new GuardedStore(this.#base.store, this.#base);
    let plan: BackfillPlan | undefined;
    try {
      plan = await planBackfill(store, this.#processor, this.#units, {
        now: this.#base.now(),
        restart: this.#options.rerunCompleted,
        logger,
      });
      this.#done = plan.done;
      await Promise.all(Array.from({ length: workers }, () => this.#work()));
    } finally {
      unsubscribe();
      signal?.removeEventListener("abort", stopAll);
    }
    const result = this.#summarise();
    logger.info(`${this.#processor.name}: ${describeCounts(result)}.`);
    if (plan.record && result.status === "completed") {
      // Done: the same command later is a new backfill. If this write is lost, the next
      // one resumes this backfill and finds every partition completed: nothing is redone.
      await store.finishBackfill(plan.record, this.#base.now());
    }
    return result;
  }

  /** One of `concurrency` loops: takes the next unit until none is left. */
  async #work(): Promise<void> {
    for (let index = this.#next++; index < this.#units.length; index = this.#next++) {
      const unit = this.#units[index] as PartitionUnit;
      const outcome: PartitionOutcome = this.#done.has(index)
        ? { ...unit, status: "already-completed", result: null }
        : this.#mayStart()
          ? await this.#runOne(unit)
          : { ...unit, status: "not-started", result: null };
      // One partition that could not fit its next batch says the same of every other one.
      if (outcome.result?.reason === "deadline") this.#outOfTime = true;
      this.#outcomes[index] = outcome;
      this.#display?.runFinished(outcome);
      try {
        this.#options.onRunFinished?.(outcome);
      } catch (error) {
        this.#base.logger.warn(`onRunFinished threw: ${(error as Error).message}`);
      }
    }
  }

  /**
   * No new partition starts once the backfill is stopping, or its deadline is in reach: past
   * the margin, or a partition was suspended because its next batch would not have fit.
   */
  #mayStart(): boolean {
    if (this.#stop.signal.aborted || this.#outOfTime) return false;
    return (
      this.#deadline === null || this.#base.now() < this.#deadline - this.#base.deadlineMarginMs
    );
  }

  async #runOne(unit: PartitionUnit): Promise<PartitionOutcome> {
    const { run: options } = this.#options;
    const display = this.#display;
    display?.runStarted(unit);
    const stop = new AbortController();
    this.#runStops.add(stop);
    let result: RunResult;
    try {
      // runPartitions checked the store against the processor's Tx.
      result = await run<E, S, unknown>(this.#processor, {
        ...options,
        partition: unit.partition,
        ...(unit.shard === undefined ? {} : { shard: unit.shard }),
        // The budget belongs to the whole backfill: every run gets the same end.
        timeBudgetMs: undefined,
        deadline: this.#deadline ?? undefined,
        signal: stop.signal,
        progress: false,
        ...(display
          ? {
              // The display shows progress instead of each run's `Progress:` lines.
              progressEveryMs: Number.MAX_SAFE_INTEGER,
              onProgress: (progress: RunProgress) => {
                display.onProgress(unit, progress);
                options.onProgress?.(progress);
              },
            }
          : {}),
      });
    } catch (error) {
      // The deadline came within the margin between #mayStart and the run's own check.
      if (error instanceof InvalidOptionError && error.option === "deadline") {
        return { ...unit, status: "not-started", result: null };
      }
      // Options were checked up front; what is left is a processor's shards() failing now.
      result = notRun(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#runStops.delete(stop);
    }
    return { ...unit, status: result.status, result };
  }

  #summarise(): PartitionsResult {
    const counts = emptyCounts();
    let processed = 0;
    let skipped = 0;
    for (const outcome of this.#outcomes) {
      counts[outcome.status]++;
      processed += outcome.result?.processed ?? 0;
      skipped += outcome.result?.skipped ?? 0;
    }
    return {
      status: overallStatus(counts),
      partitions: this.#outcomes,
      counts,
      processed,
      skipped,
      durationMs: Math.round(performance.now() - this.#startedPerf),
    };
  }

  #noun(): string {
    const partitions = this.#options.partitions.length;
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    if (this.#units.length === partitions) return plural(partitions, "partition");
    return `${plural(this.#units.length, "shard")} of ${plural(partitions, "partition")}`;
  }
}

/** The result of a run that could not start because its processor's `shards()` threw. */
function notRun(error: Error): RunResult {
  return {
    runId: "",
    status: "failed",
    processed: 0,
    skipped: 0,
    resumedFrom: null,
    completed: 0,
    total: null,
    batches: 0,
    durationMs: 0,
    checkpointMs: 0,
    cursor: null,
    state: undefined,
    error,
  };
}
