import type { RunRecord } from "../core/store/checkpoint-store.js";
import { mean, median, sum } from "./averages.js";
import {
  ADVISE_THRESHOLDS,
  type AdviceStep,
  type BatchSizeRow,
  decide,
  pct,
  type TreeInput,
  tableBatchSize,
  type Verdict,
} from "./decision-tree.js";
import { runDurationMs } from "./lease.js";
import { reachedBy, successorsOf } from "./reached.js";
import { stalledPartitions, stallWarning } from "./stalled.js";

export type { AdviceStep, BatchSizeRow, Verdict } from "./decision-tree.js";
export { ADVISE_THRESHOLDS } from "./decision-tree.js";

/** Options of {@link advise}. */
export interface AdviseOptions {
  /** Runs per week for the ROI figures. @default measured: finished runs scaled to 7 days of `windowMs` */
  readonly weeklyRuns?: number;
  /** How much history the runs cover, to measure runs per week. */
  readonly windowMs: number;
}

/**
 * The figures behind the advice: measured from history or a job log, or stated; null where
 * the source cannot give them.
 */
export interface AdviceFigures extends TreeInput {
  readonly weeklyRuns: number;
  /** `failureRate × weeklyRuns`. */
  readonly weeklyFailures: number | null;
  /** Sum of checkpointMs over sum of duration. */
  readonly overhead: number | null;
  /** `weeklyReworkMs - weeklyOverheadMs`. */
  readonly weeklyNetSavingMs: number | null;
  /** Sum of checkpointMs over sum of batches. */
  readonly commitLatencyMs: number | null;
  /** Sum of (duration - checkpointMs) over sum of processed. */
  readonly perEntityMs: number | null;
  /** Entities per batch in history, rounded to a whole number. */
  readonly currentBatchSize: number | null;
  /** `ceil(commitLatencyMs / (targetOverhead × perEntityMs))`: overhead about 1%. */
  readonly recommendedBatchSize: number | null;
  /** The batch-size table's row for runs of `typicalDurationMs`; null for runs to retry. */
  readonly batchSizeRange: BatchSizeRow | null;
}

/** Where the figures come from: run history, a job log (`--runs`), or stated (`--what-if`). */
export type AdviceSource = "history" | "job-log" | "stated";

/** The advice for one processor. */
export interface Advice {
  readonly processor: string;
  readonly source: AdviceSource;
  readonly verdict: Verdict;
  readonly summary: string;
  readonly steps: readonly AdviceStep[];
  readonly figures: AdviceFigures;
  /** Runs still needed before advising, when the verdict is `insufficient-history`. */
  readonly runsNeeded: number;
  /** Set when measured overhead is over 5%: batches should be larger. */
  readonly overheadWarning: string | null;
  /** Set when partitions keep suspending without progress, whatever the history's size. */
  readonly stallWarning: string | null;
  /** Figures the source could not give and that were assumed, each with its assumption. */
  readonly notes: readonly string[];
}

/** Applies the retry-versus-checkpoint decision tree to one processor's run history. */
export function advise(
  processor: string,
  runs: readonly RunRecord[],
  options: AdviseOptions,
): Advice {
  return adviceOf(processor, "history", measure(runs, options), {
    stallWarning: stallWarning(stalledPartitions(runs)),
  });
}

/** The advice for `figures`, from any source: the decision tree's path and the warnings. */
export function adviceOf(
  processor: string,
  source: AdviceSource,
  figures: AdviceFigures,
  extra: { readonly stallWarning?: string | null; readonly notes?: readonly string[] } = {},
): Advice {
  const t = ADVISE_THRESHOLDS;
  const decision = decide(figures);
  const f = figures;
  return {
    processor,
    source,
    ...decision,
    figures,
    // A warning from a handful of runs would be noise: it waits for enough history too.
    overheadWarning:
      decision.verdict !== "insufficient-history" &&
      f.overhead !== null &&
      f.overhead > t.maxOverhead
        ? `Checkpoint overhead is ${pct(f.overhead)} (over ${pct(t.maxOverhead)}): use larger ` +
          `batches${f.recommendedBatchSize ? `, about ${f.recommendedBatchSize} entities` : ""}.`
        : null,
    stallWarning: extra.stallWarning ?? null,
    notes: extra.notes ?? [],
  };
}

/** The weekly arithmetic every source shares; null where a factor is unknown. */
export function weeklyFigures(f: {
  readonly failureRate: number | null;
  readonly avgProgressAtFailure: number | null;
  readonly typicalDurationMs: number | null;
  readonly weeklyRuns: number;
  readonly overhead: number | null;
}): Pick<
  AdviceFigures,
  "weeklyFailures" | "weeklyReworkMs" | "weeklyOverheadMs" | "weeklyNetSavingMs"
> {
  const weeklyFailures = f.failureRate === null ? null : f.failureRate * f.weeklyRuns;
  const weeklyReworkMs =
    weeklyFailures !== null && f.avgProgressAtFailure !== null && f.typicalDurationMs !== null
      ? weeklyFailures * f.avgProgressAtFailure * f.typicalDurationMs
      : null;
  const weeklyOverheadMs =
    f.overhead !== null && f.typicalDurationMs !== null
      ? f.overhead * f.typicalDurationMs * f.weeklyRuns
      : null;
  return {
    weeklyFailures,
    weeklyReworkMs,
    weeklyOverheadMs,
    weeklyNetSavingMs:
      weeklyReworkMs !== null && weeklyOverheadMs !== null
        ? weeklyReworkMs - weeklyOverheadMs
        : null,
  };
}

function measure(runs: readonly RunRecord[], options: AdviseOptions): AdviceFigures {
  const t = ADVISE_THRESHOLDS;
  const finished = runs.filter((r) => r.status === "completed" || r.status === "failed");
  const failed = finished.filter((r) => r.status === "failed");
  // Where each failure happened: what the run recorded, or where the run that resumed it
  // started, when a process that died recorded less.
  const successors = successorsOf(runs);
  const positions = failed
    .filter((r) => r.total !== null && r.total > 0)
    .map((r) => Math.min(1, reachedBy(r, successors.get(r.runId)) / (r.total as number)));
  const failureRate = finished.length > 0 ? failed.length / finished.length : null;
  const avgProgressAtFailure = positions.length > 0 ? mean(positions) : null;
  const fullDurations = runs
    .filter((r) => r.status === "completed" && r.processed > 0)
    .map((r) => ((runDurationMs(r) ?? 0) * (r.total ?? r.processed)) / r.processed);
  const typicalDurationMs = fullDurations.length > 0 ? median(fullDurations) : null;
  const weeklyRuns =
    options.weeklyRuns ?? (finished.length * 7 * 86_400_000) / Math.max(options.windowMs, 1);

  // A run abandoned by a dead process is recorded from its checkpoint: its entities, without
  // its batches or commit time. Its figures would shrink the overhead and inflate the batch
  // size, so the commit figures come from the runs that recorded their own.
  const measured = runs.filter(
    (r) => r.finishedAt !== null && r.status !== "busy" && (r.batches > 0 || r.processed === 0),
  );
  const duration = sum(measured.map((r) => runDurationMs(r) ?? 0));
  const checkpointMs = sum(measured.map((r) => r.checkpointMs));
  const batches = sum(measured.map((r) => r.batches));
  const processed = sum(measured.map((r) => r.processed));
  const overhead = duration > 0 ? checkpointMs / duration : null;
  const commitLatencyMs = batches > 0 ? checkpointMs / batches : null;
  const perEntityMs = processed > 0 ? Math.max(0, duration - checkpointMs) / processed : null;
  return {
    finishedRuns: finished.length,
    failedRuns: failed.length,
    failureRate,
    avgProgressAtFailure,
    failuresNearEdges: positions.filter((p) => p < t.nearStart || p > t.nearEnd).length,
    typicalDurationMs,
    weeklyRuns,
    ...weeklyFigures({
      failureRate,
      avgProgressAtFailure,
      typicalDurationMs,
      weeklyRuns,
      overhead,
    }),
    overhead,
    commitLatencyMs,
    perEntityMs,
    currentBatchSize: batches > 0 ? Math.round(processed / batches) : null,
    recommendedBatchSize:
      commitLatencyMs !== null && perEntityMs !== null && perEntityMs > 0
        ? Math.max(1, Math.ceil(commitLatencyMs / (t.targetOverhead * perEntityMs)))
        : null,
    batchSizeRange: tableBatchSize(typicalDurationMs),
  };
}
