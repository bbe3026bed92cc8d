import { WaymarkError } from "../core/errors.js";
import type { RunMetrics } from "../core/metrics-hooks.js";
import type { RunProgress } from "../core/run-options.js";
import {
  describeCounts,
  type PartitionOutcome,
  type PartitionsResult,
  unitLabel,
} from "../core/run-partitions-options.js";
import { isSplitOff as isSplitOffShard } from "../core/unit.js";
import { EXIT } from "./exit-codes.js";
import { formatDuration } from "./shared.js";

/** The exit code of a backfill: 0 all completed or skipped, 1 any failed, 75 any left to do. */
export function exitCodeFor(result: PartitionsResult): number {
  if (result.status === "failed") return EXIT.failure;
  return result.status === "suspended" ? EXIT.tempfail : EXIT.ok;
}

/**
 * `waymark run --json`: one JSON object per line on stdout, each with an `event`
 * (`run-started`, `progress`, `run-finished`, `summary`) and the time it happened.
 */
export class JsonLines {
  readonly #write: (line: string) => void;
  readonly #everyMs: number;
  readonly #lastProgress = new Map<string, number>();

  constructor(write: (line: string) => void, progressEveryMs = 1000) {
    this.#write = write;
    this.#everyMs = progressEveryMs;
  }

  /** The metrics hook that reports each run's start (fresh or resumed). */
  readonly metrics: RunMetrics = {
    runStarted: (event) =>
      this.#emit("run-started", {
        processor: event.processor,
        partition: event.partition,
        ...(event.shard ? { shard: event.shard } : {}),
        runId: event.runId,
        resumedFrom: event.resumedFrom,
        total: event.total,
        attempt: event.attempt,
      }),
  };

  /** At most one progress line per partition (or shard) per `progressEveryMs`. */
  progress = (p: RunProgress): void => {
    const now = Date.now();
    const unit = unitLabel({ partition: p.partition, shard: p.shard || undefined });
    if (now - (this.#lastProgress.get(unit) ?? 0) < this.#everyMs) return;
    this.#lastProgress.set(unit, now);
    this.#emit("progress", {
      processor: p.processor,
      partition: p.partition,
      ...(p.shard ? { shard: p.shard } : {}),
      completed: p.completed,
      total: p.total,
      processed: p.processed,
      batches: p.batches,
      elapsedMs: Math.round(p.elapsedMs),
    });
  };

  runFinished(processor: string, outcome: PartitionOutcome): void {
    const r = outcome.result;
    if (!r) return; // not a run: it is in the summary
    this.#lastProgress.delete(unitLabel(outcome));
    this.#emit("run-finished", {
      processor,
      partition: outcome.partition,
      ...(outcome.shard === undefined ? {} : { shard: outcome.shard }),
      runId: r.runId,
      status: r.status,
      reason: r.reason ?? null,
      processed: r.processed,
      skipped: r.skipped,
      completed: r.completed,
      total: r.total,
      resumedFrom: r.resumedFrom,
      durationMs: r.durationMs,
      error: r.error ? `${r.error.name}: ${r.error.message}` : null,
      // The code `run()` gives (ORDER_VIOLATION, FENCED, …), for scripts that branch on it.
      errorCode: r.error instanceof WaymarkError ? r.error.code : null,
    });
  }

  summary(processor: string, result: PartitionsResult): void {
    this.#emit("summary", {
      processor,
      status: result.status,
      exitCode: exitCodeFor(result),
      counts: result.counts,
      processed: result.processed,
      skipped: result.skipped,
      durationMs: result.durationMs,
      // Each unit: run here (with its run's id), or completed by another run (which, when).
      partitions: result.partitions.map((o) => ({
        partition: o.partition,
        ...(o.shard === undefined ? {} : { shard: o.shard }),
        status: o.status,
        ...(o.result && o.result.runId !== "" ? { runId: o.result.runId } : {}),
        ...(o.completedBy === undefined ? {} : { completedBy: o.completedBy }),
        ...(o.completedAt === undefined ? {} : { completedAt: iso(o.completedAt) }),
        ...(o.result?.error ? { error: `${o.result.error.name}: ${o.result.error.message}` } : {}),
      })),
      backfill: result.backfill
        ? {
            startedAt: iso(result.backfill.startedAt),
            finishedAt:
              result.backfill.finishedAt === null ? null : iso(result.backfill.finishedAt),
            alreadyFinished: result.backfill.alreadyFinished,
            runs: result.backfill.runs,
          }
        : null,
      waiting: (result.waiting ?? []).map((w) => ({
        partition: w.partition,
        ...(w.shard === undefined ? {} : { shard: w.shard }),
        owner: w.owner,
        expiresAt: iso(w.expiresAt),
      })),
    });
  }

  #emit(event: string, fields: Record<string, unknown>): void {
    this.#write(`${JSON.stringify({ event, time: new Date().toISOString(), ...fields })}\n`);
  }
}

/**
 * The summary a person reads: one line of counts, then which units this process ran and which
 * other runs of the backfill completed, a line for each that did not complete (not-started
 * ones folded into one line), whether the backfill is complete, and what to do next.
 */
export function describeSummary(processor: string, result: PartitionsResult): string {
  const lines = [
    `${processor}: ${describeUnits(result.partitions)}: ` +
      `${describeCounts(result, { failures: false })} in ${formatDuration(result.durationMs)}; ` +
      `${result.processed.toLocaleString("en")} entities processed` +
      `${skippedText(result.skipped)}.`,
  ];
  const backfill = result.backfill;
  if (backfill?.alreadyFinished) {
    lines.push(
      `The backfill completed at ${isoSeconds(backfill.finishedAt ?? 0)}, by ` +
        `${backfill.runs ?? "?"} runs: nothing to do. --rerun-completed runs it again.`,
    );
    return `${lines.join("\n")}\n`;
  }
  const shared = whoRanWhat(result.partitions);
  lines.push(...shared);
  const notStarted: string[] = [];
  for (const outcome of result.partitions) {
    if (outcome.status === "not-started") notStarted.push(unitLabel(outcome));
    else if (outcome.status === "skipped" && isSplitOff(outcome)) {
      lines.push(
        `  skipped    ${unitLabel(outcome)}  no such shard: it completed, or its partition was ` +
          "reset or begun anew",
      );
    } else if (!["completed", "already-completed", "skipped"].includes(outcome.status)) {
      lines.push(
        `  ${outcome.status.padEnd(9)}  ${unitLabel(outcome)}  ${detail(outcome, result.waiting)}`,
      );
    }
  }
  if (notStarted.length > 0) lines.push(`  not started  ${listed(notStarted)}`);
  // Where others took part, whether all of it is done is not plain from this process's lines.
  if (shared.length > 0 && backfill?.finishedAt != null) {
    lines.push(`The backfill begun ${isoSeconds(backfill.startedAt)} is complete.`);
  }
  lines.push(...whatNext(result));
  return `${lines.join("\n")}\n`;
}

/**
 * What a summary covers: `10 partitions`, `6 shards of 2 partitions`, and the shards split
 * off running partitions this process ran (`… and 2 shards split off them`).
 */
function describeUnits(outcomes: readonly PartitionOutcome[]): string {
  const splitOffs = outcomes.filter(isSplitOff);
  const units = outcomes.filter((o) => !isSplitOff(o));
  const partitions = new Set(outcomes.map((o) => o.partition));
  if (units.length === 0) {
    return `${plural(splitOffs.length, "shard")} split off ${listed([...partitions])}`;
  }
  const count = plural(partitions.size, "partition");
  const sharded = units.some((o) => o.shard !== undefined);
  const text = sharded ? `${plural(units.length, "shard")} of ${count}` : count;
  if (splitOffs.length === 0) return text;
  const them = partitions.size === 1 ? "it" : "them";
  return `${text} and ${plural(splitOffs.length, "shard")} split off ${them}`;
}

/**
 * When other runs of the backfill did part of it: what this process ran, and what they
 * completed. A process that ran everything itself needs neither line.
 */
function whoRanWhat(outcomes: readonly PartitionOutcome[]): string[] {
  const byOthers = outcomes.filter((o) => o.completedBy !== undefined).map(unitLabel);
  const here = outcomes.filter((o) => o.result !== null && o.result.runId !== "");
  if (byOthers.length === 0 && !here.some(isSplitOff)) return [];
  const ran = here.map(unitLabel);
  return [
    `  run here:                 ${ran.length === 0 ? "none" : listed(ran)}`,
    ...(byOthers.length === 0 ? [] : [`  completed by other runs:  ${listed(byOthers)}`]),
  ];
}

function isSplitOff(outcome: PartitionOutcome): boolean {
  return typeof outcome.shard === "string" && isSplitOffShard(outcome.shard);
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * What to do about the partitions that did not complete, by why: running again resumes most,
 * but not a source out of order (it would stop at the same entity) nor a checkpoint another
 * runner took over (that runner goes on with it).
 */
function whatNext(result: PartitionsResult): string[] {
  const byCause = {
    rerun: false,
    order: [] as string[],
    fenced: [] as string[],
    drift: [] as string[],
  };
  for (const outcome of result.partitions) {
    if (["completed", "already-completed", "skipped"].includes(outcome.status)) continue;
    const code = outcome.result?.error instanceof WaymarkError ? outcome.result.error.code : null;
    if (code === "ORDER_VIOLATION") byCause.order.push(unitLabel(outcome));
    else if (code === "FENCED") byCause.fenced.push(unitLabel(outcome));
    else if (code === "SHARD_DRIFT") byCause.drift.push(unitLabel(outcome));
    else byCause.rerun = true;
  }
  const lines: string[] = [];
  if (byCause.rerun) {
    lines.push(
      "Run the same command again to resume: partitions with checkpoints resume, and those " +
        "completed since this backfill began are not redone.",
    );
  }
  if (byCause.order.length > 0) {
    lines.push(
      `Fix the entity source of ${byCause.order.join(", ")} first: its ids must ascend, and a ` +
        "run started again would stop at the same entity. Then start over what was committed or " +
        "completed in that order, as the error says: a resume would skip ids.",
    );
  }
  if (byCause.drift.length > 0) {
    lines.push(
      `The static split of ${byCause.drift.join(", ")} changed since they were begun: restore ` +
        "the previous shards(), or redo their partitions as the error says; a run started " +
        "again stops the same way.",
    );
  }
  if (byCause.fenced.length > 0) {
    lines.push(
      `Another runner holds the checkpoint of ${byCause.fenced.join(", ")} now and goes on ` +
        "from its last commit: do not run it again here.",
    );
  }
  return lines;
}

/** `a, b, c`, or the first and last of a long list with its length. */
function listed(labels: readonly string[]): string {
  return labels.length <= 4
    ? labels.join(", ")
    : `${labels[0]} … ${labels.at(-1)} (${labels.length})`;
}

/** A time in JSON: `2024-06-01T06:00:00.000Z`. */
function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A time as `2024-06-01T06:00:00Z`. */
function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function detail(outcome: PartitionOutcome, waiting: PartitionsResult["waiting"]): string {
  const held = waiting?.find((w) => w.partition === outcome.partition && w.shard === outcome.shard);
  if (held) {
    return (
      `held by ${held.owner} until ${isoSeconds(held.expiresAt)} (renewed while it runs; if ` +
      "its runner died, the lease expires then and the next run takes it over)"
    );
  }
  const r = outcome.result;
  if (!r) return "";
  const at = `at ${r.completed}/${r.total ?? "?"}`;
  if (r.status === "failed") return `${at}: ${r.error?.message ?? "failed"}`;
  if (r.status === "busy") return "leased by another runner";
  const suspended = r.reason ? `${r.reason} ${at}` : at;
  // A suspension can follow a batch that failed with no time left to retry it.
  return r.error ? `${suspended} after ${r.error.message}` : suspended;
}

/** `, 4 skipped to the failure ledger: `waymark failures``, or nothing when none were. */
function skippedText(skipped: number): string {
  return skipped === 0
    ? ""
    : `, ${skipped.toLocaleString("en")} skipped to the failure ledger: \`waymark failures\``;
}
