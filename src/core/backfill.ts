import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import { openBackfill } from "./backfill-plan.js";
import {
  type BackfillView,
  splitCandidate,
  splitPending,
  unitKey,
  viewOf,
} from "./backfill-view.js";
import { InvalidOptionError } from "./errors.js";
import { resolveDeadline } from "./policies/deadline.js";
import { onStopSignal } from "./policies/process-signals.js";
import type { Processor } from "./processor.js";
import { runUnit, type UnitOutcome } from "./run.js";
import type { ResolvedRunOptions, RunProgress } from "./run-options.js";
import {
  emptyCounts,
  type HeldUnit,
  overallStatus,
  type PartitionOutcome,
  type PartitionsDisplay,
  type PartitionsResult,
  type ResolvedPartitionsOptions,
} from "./run-partitions-options.js";
import type { RunResult } from "./run-result.js";
import type { SplitMade } from "./split-holder.js";
import type { BackfillRecord } from "./store/backfill-store.js";
import { GuardedStore } from "./store/guarded-store.js";
import { driftOf, type RunUnit } from "./unit.js";

/**
 * One process's part in a backfill. Any number of processes running the same backfill share
 * it with no configuration: each slot (`concurrency` of them) claims the next unit nobody
 * holds, its claim decided under the unit's lease (`completedSince`: a unit completed since
 * the backfill began is done, whoever completed it). A slot with nothing left to claim helps:
 * it asks the running unit with the most work left to split, and runs the shard the split
 * makes; or it waits for the holders, within the time budget, until every partition of the
 * backfill has completed.
 */
export class Backfill<E, S, Tx> {
  readonly #processor: Processor<E, S, Tx>;
  readonly #options: ResolvedPartitionsOptions;
  readonly #base: ResolvedRunOptions;
  readonly #units: readonly RunUnit[];
  readonly #display: PartitionsDisplay | undefined;
  readonly #store: GuardedStore;
  readonly #stop = new AbortController();
  /**
   * Each running unit's own stop. The backfill aborts them when it stops, rather than every
   * run listening to one shared signal: 64 runs at once would add 64 listeners to it and set
   * off Node's MaxListenersExceededWarning.
   */
  readonly #runStops = new Set<AbortController>();
  readonly #deadline: number | null;
  readonly #startedPerf = performance.now();
  /** Who asks for splits: this process. */
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}:backfill`;
  /** What this process did with each unit it claimed, by unit key. */
  readonly #outcomes = new Map<string, PartitionOutcome>();
  /** Units a slot of this process is running now. */
  readonly #running = new Set<string>();
  /** Split-off units this process ran, in the order it met them. */
  readonly #splitOffs: RunUnit[] = [];
  #since = 0;
  #record: BackfillRecord | null = null;
  #view: BackfillView | null = null;
  /** The unit this process asked to split, until its answer shows. */
  #asked: { key: string; at: number } | null = null;
  #outOfTime = false;
  /** The read of the backfill's progress in flight, which slots asking meanwhile share. */
  #refreshing: { readonly startedAt: number; readonly done: Promise<void> } | null = null;
  /** The pauses of slots waiting for work now: a unit of this process ending wakes them. */
  readonly #pauses = new Set<AbortController>();

  constructor(
    processor: Processor<E, S, Tx>,
    options: ResolvedPartitionsOptions,
    base: ResolvedRunOptions,
    units: readonly RunUnit[],
    display: PartitionsDisplay | undefined,
  ) {
    this.#processor = processor;
    this.#options = options;
    this.#base = base;
    this.#units = units;
    this.#display = display;
    this.#store = new GuardedStore(base.store, base);
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
    try {
      const start = await openBackfill(this.#store, this.#processor, this.#options.partitions, {
        now: this.#base.now(),
        rerunCompleted: this.#options.rerunCompleted,
        logger,
      });
      this.#record = start.record;
      this.#since = start.since;
      if (start.record?.finishedAt != null) return this.#finished(start.record);
      // A slot beyond the units helps by splitting them: worth it only when they can split.
      const units = this.#units.length;
      const slots = this.#processor.split
        ? this.#options.concurrency
        : Math.min(this.#options.concurrency, units);
      // Where the backfill stands before the first claim: done units, and drifted splits.
      await this.#refresh();
      this.#refuseDriftedCompletions();
      logger.info(`Running ${this.#processor.name} on ${this.#noun()} (concurrency ${slots}).`);
      await Promise.all(Array.from({ length: slots }, () => this.#slot()));
      // What the summary says of units this process did not run is read once more at the end.
      await this.#refresh();
    } finally {
      unsubscribe();
      signal?.removeEventListener("abort", stopAll);
    }
    const result = this.#summarise();
    if (this.#record && this.#view?.complete) {
      // Done: the same command later finds it finished. If this write is lost, the next one
      // joins this backfill and finds every partition completed: nothing is redone.
      await this.#store.finishBackfill(this.#record, this.#base.now());
    }
    return result;
  }

  /** One of `concurrency` loops: claims and runs units, helps, waits, until nothing is left. */
  async #slot(): Promise<void> {
    for (;;) {
      if (!this.#mayStart()) return;
      if (await this.#claimNext()) continue;
      await this.#refresh();
      if (this.#finishedHere()) return;
      if (!this.#mayStart()) return;
      await this.#help();
      await this.#pause();
    }
  }

  /** Claims and runs the first unit it can; false when none could be claimed now. */
  async #claimNext(): Promise<boolean> {
    for (const unit of this.#candidates()) {
      if (!this.#mayStart()) return false;
      const key = unitKey(unit);
      if (this.#running.has(key) || this.#outcomes.has(key)) continue;
      this.#running.add(key);
      let outcome: UnitOutcome<S>;
      try {
        outcome = await this.#claim(unit);
      } finally {
        this.#running.delete(key);
      }
      if (outcome.kind === "absent") continue;
      if (outcome.kind === "held") {
        // Without backfill records nothing says when the holder is done: it is busy, as
        // a run would report it.
        if (!this.#record) this.#note({ ...at(unit), status: "busy", result: null });
        continue;
      }
      if (outcome.kind === "completed") {
        this.#note({ ...at(unit), status: "already-completed", result: null, ...doneBy(outcome) });
        continue;
      }
      this.#note({ ...at(unit), status: outcome.result.status, result: outcome.result });
      return true;
    }
    return false;
  }

  /**
   * A static shard completed in this backfill under another `shards()` split that gave it other
   * bounds is drift: taking it as done would skip the ids between them. Its partition fails
   * with `SHARD_DRIFT`, saying how to start it over.
   */
  #refuseDriftedCompletions(): void {
    for (const unit of this.#units) {
      const done = this.#view?.drifted.get(unitKey(unit));
      const error = done && driftOf(this.#processor.name, unit, done, "completed");
      if (error) this.#note({ ...at(unit), status: "failed", result: notRun(error) });
    }
  }

  /** Static units first, in the order given; then shards split off running ones. */
  *#candidates(): Generator<RunUnit> {
    const view = this.#view;
    for (const unit of this.#units) {
      if (view?.done.has(unitKey(unit)) || view?.held.has(unitKey(unit))) continue;
      yield unit;
    }
    for (const unit of view?.splitOffs ?? []) yield unit;
  }

  /** Claims one unit and runs it under the backfill's deadline and stop. */
  async #claim(unit: RunUnit): Promise<UnitOutcome<S>> {
    const stop = new AbortController();
    this.#runStops.add(stop);
    const options = this.#runOptions(unit, stop.signal);
    try {
      const outcome = await runUnit(this.#processor, options, unit, {
        completedSince: this.#since,
        splitPollMs: this.#options.pollIntervalMs,
        onSplit: (made) => this.#onSplit(made),
      });
      // A quota's pause or wait that would pass the deadline is out of time just the same.
      const reason = outcome.kind === "ran" ? outcome.result.reason : undefined;
      if (reason === "deadline" || reason === "rate-limited") this.#outOfTime = true;
      return outcome;
    } catch (error) {
      // The deadline came within the margin between #mayStart and the run's own check.
      if (error instanceof InvalidOptionError && error.option === "deadline") {
        this.#outOfTime = true;
        return { kind: "absent" };
      }
      const failure = error instanceof Error ? error : new Error(String(error));
      return { kind: "ran", result: notRun(failure) as RunResult<S> };
    } finally {
      this.#runStops.delete(stop);
    }
  }

  /** The options of one unit's run: the backfill's, with its partition and the shared end. */
  #runOptions(unit: RunUnit, signal: AbortSignal): ResolvedRunOptions {
    const display = this.#display;
    const base = this.#base;
    return {
      ...base,
      partition: unit.partition,
      ...(unit.shard === "" ? {} : { shard: unit.shard }),
      // The budget belongs to the whole backfill: every run gets the same end.
      timeBudgetMs: undefined,
      deadline: this.#deadline ?? undefined,
      signal,
      // Each run's batch in flight gets the shutdown grace after SIGTERM/SIGINT, as a lone
      // run's does; one process listener serves them all (process-signals.ts).
      handleSignals: base.handleSignals,
      progress: false,
      ...(display
        ? {
            metrics: [...(base.metrics ?? []), { runStarted: () => display.runStarted(at(unit)) }],
            // The display shows progress instead of each run's `Progress:` lines.
            progressEveryMs: Number.MAX_SAFE_INTEGER,
            onProgress: (progress: RunProgress) => {
              display.onProgress(at(unit), progress);
              base.onProgress?.(progress);
            },
          }
        : {}),
    } as ResolvedRunOptions;
  }

  #onSplit(made: SplitMade): void {
    this.#base.logger.debug(`Shard ${made.shard} of ${made.partition} is ready to be claimed.`);
    // This process's idle slots look at once; other processes at their next look.
    this.#view = null;
    this.#wakeWaiting();
  }

  /**
   * Ends the pauses of this process's waiting slots: a unit of its own ended or split, so there
   * may be work, or nothing left. Without it the last unit's end waited up to a poll interval
   * to be seen, which a backfill of short partitions pays at every end.
   */
  #wakeWaiting(): void {
    for (const pause of this.#pauses) pause.abort();
  }

  /** Records what this process did with a unit, and tells the display and the caller. */
  #note(outcome: PartitionOutcome): void {
    const key = unitKey({ partition: outcome.partition, shard: String(outcome.shard ?? "") });
    this.#outcomes.set(key, outcome);
    this.#wakeWaiting();
    this.#display?.runFinished(outcome);
    try {
      this.#options.onRunFinished?.(outcome);
    } catch (error) {
      this.#base.logger.warn(`onRunFinished threw: ${(error as Error).message}`);
    }
  }

  /** Reads what the store says of the backfill now. */
  async #refresh(): Promise<void> {
    // Slots woken together by one unit's end share one read: one started after they asked
    // shows that end; one started before may not, so they wait for it and read again.
    const askedAt = performance.now();
    for (;;) {
      const running = this.#refreshing;
      if (running === null) break;
      await running.done;
      if (running.startedAt > askedAt) return;
    }
    const startedAt = performance.now();
    const done: Promise<void> = this.#read().finally(() => {
      if (this.#refreshing?.done === done) this.#refreshing = null;
    });
    this.#refreshing = { startedAt, done };
    await done;
  }

  async #read(): Promise<void> {
    try {
      const listing = await this.#store.listUnits(
        this.#processor.name,
        this.#options.partitions,
        this.#since,
      );
      if (!listing) return; // a store without backfill records: each unit is tried once
      this.#view = viewOf(listing, this.#units, this.#base.now());
      for (const unit of this.#view.splitOffs) {
        if (!this.#splitOffs.some((s) => unitKey(s) === unitKey(unit))) this.#splitOffs.push(unit);
      }
    } catch (error) {
      // A look that failed is tried again after the pause; claims decide anyway.
      this.#base.logger.warn(`Could not read the backfill's progress: ${(error as Error).message}`);
    }
  }

  /**
   * Whether this process has nothing left to do: the backfill completed, or every partition
   * still open is one this process failed or skipped (its exit says so; another process may
   * retry it), and nothing else is held by a live runner or waits to be claimed.
   */
  #finishedHere(): boolean {
    const view = this.#view;
    if (!view) return this.#outcomes.size >= this.#units.length;
    if (view.complete) return true;
    const givenUp = new Set<string>();
    for (const outcome of this.#outcomes.values()) {
      if (outcome.status === "failed" || outcome.status === "skipped")
        givenUp.add(outcome.partition);
    }
    for (const partition of view.open) if (!givenUp.has(partition)) return false;
    return true;
  }

  /** Asks the running unit with the most work left to split, when none was asked already. */
  async #help(): Promise<void> {
    const view = this.#view;
    if (!view || !this.#record) return;
    const now = this.#base.now();
    const asked = this.#asked;
    // An answer shows as the request cleared (a split, or a declined note) or the unit gone.
    if (asked && view.held.get(asked.key)?.splitRequest && now - asked.at < 10 * this.#pollMs()) {
      return;
    }
    this.#asked = null;
    const minimum = 2 * 3 * batchSizeOf(this.#processor);
    const target = splitCandidate(view, minimum, new Set());
    if (!target) return;
    if (await this.#store.requestSplit(target, this.#owner, now)) {
      this.#asked = { key: unitKey(target), at: now };
      this.#base.logger.debug(
        `Asked the holder of ${target.partition}${target.shard ? ` shard ${target.shard}` : ""} to split it.`,
      );
    }
  }

  /** Waits a poll interval, or less when the stop or the deadline comes first. */
  async #pause(): Promise<void> {
    const left =
      this.#deadline === null
        ? Number.POSITIVE_INFINITY
        : this.#deadline - this.#base.deadlineMarginMs - this.#base.now();
    // While a split is being answered, its shard is claimable within a batch or two: look
    // again soon rather than leave it to wait a whole interval.
    const soon = this.#asked !== null || (this.#view !== null && splitPending(this.#view));
    const interval = soon ? Math.max(10, Math.round(this.#pollMs() / 4)) : this.#pollMs();
    const ms = Math.max(0, Math.min(interval, left));
    if (this.#stop.signal.aborted) return;
    const pause = new AbortController();
    const stop = () => pause.abort();
    this.#stop.signal.addEventListener("abort", stop, { once: true });
    this.#pauses.add(pause);
    try {
      await this.#base.sleep(ms, pause.signal).catch(() => {});
    } finally {
      this.#pauses.delete(pause);
      this.#stop.signal.removeEventListener("abort", stop);
    }
  }

  #pollMs(): number {
    return this.#options.pollIntervalMs;
  }

  /**
   * No new unit starts once the backfill is stopping, or its deadline is in reach: past the
   * margin, or a unit was suspended because its next batch would not have fit.
   */
  #mayStart(): boolean {
    if (this.#stop.signal.aborted || this.#outOfTime) return false;
    return (
      this.#deadline === null || this.#base.now() < this.#deadline - this.#base.deadlineMarginMs
    );
  }

  /** A backfill found finished: nothing runs, and the result says when and by how many runs. */
  #finished(record: BackfillRecord): PartitionsResult {
    const when = new Date(record.finishedAt as number).toISOString();
    this.#base.logger.info(
      `The backfill of ${this.#processor.name} (${this.#noun()}) completed at ${when}, by ` +
        `${record.runs ?? "?"} runs; nothing to do. --rerun-completed runs it again.`,
    );
    for (const unit of this.#units) {
      this.#outcomes.set(unitKey(unit), { ...at(unit), status: "already-completed", result: null });
    }
    return {
      ...this.#summarise(),
      backfill: {
        startedAt: record.startedAt,
        finishedAt: record.finishedAt,
        alreadyFinished: true,
        runs: record.runs,
      },
    };
  }

  /** One outcome per static unit (and per split-off shard this process ran), in order. */
  #summarise(): PartitionsResult {
    const view = this.#view;
    const outcomes: PartitionOutcome[] = [];
    const waiting: HeldUnit[] = [];
    for (const unit of [...this.#units, ...this.#splitOffs]) {
      const key = unitKey(unit);
      const mine = this.#outcomes.get(key);
      if (mine) {
        outcomes.push(mine);
        continue;
      }
      if (unit.splitOff) continue; // split off and run elsewhere: its partition's line says
      const done = view?.done.get(key);
      const held = view?.held.get(key);
      if (done) {
        const by = doneBy({ at: done.completedAt, runId: done.runId });
        outcomes.push({ ...at(unit), status: "already-completed", result: null, ...by });
      } else if (held) {
        const holder = { owner: held.leaseOwner ?? "?", expiresAt: held.leaseExpiresAt ?? 0 };
        waiting.push({ ...at(unit), ...holder });
        outcomes.push({ ...at(unit), status: "busy", result: null });
      } else {
        outcomes.push({ ...at(unit), status: "not-started", result: null });
      }
    }
    const counts = emptyCounts();
    let processed = 0;
    let skipped = 0;
    for (const outcome of outcomes) {
      counts[outcome.status]++;
      processed += outcome.result?.processed ?? 0;
      skipped += outcome.result?.skipped ?? 0;
    }
    const complete = view?.complete ?? false;
    return {
      status: complete && counts.failed === 0 ? "completed" : overallStatus(counts),
      partitions: outcomes,
      counts,
      processed,
      skipped,
      durationMs: Math.round(performance.now() - this.#startedPerf),
      ...(this.#record
        ? {
            backfill: {
              startedAt: this.#record.startedAt,
              finishedAt: complete ? this.#base.now() : null,
              alreadyFinished: false,
              runs: null,
            },
          }
        : {}),
      ...(waiting.length > 0 ? { waiting } : {}),
    };
  }

  #noun(): string {
    const partitions = this.#options.partitions.length;
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    if (this.#units.length === partitions) return plural(partitions, "partition");
    return `${plural(this.#units.length, "shard")} of ${plural(partitions, "partition")}`;
  }
}

/** The partition (and shard) fields of a unit's outcome. */
function at(unit: RunUnit): { partition: string; shard?: string } {
  return unit.shard === ""
    ? { partition: unit.partition }
    : { partition: unit.partition, shard: unit.shard };
}

/** Who completed a unit this process did not run. */
function doneBy(done: { readonly at: number; readonly runId: string | null }) {
  return { completedAt: done.at, completedBy: done.runId };
}

/** The batch size a split's minimum counts in (an adaptive size's minimum). */
function batchSizeOf(processor: Processor<unknown, unknown, unknown>): number {
  const size = processor.batchSize;
  return typeof size === "number" ? size : (size.adaptive.min ?? 1);
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
