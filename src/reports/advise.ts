import type { RunRecord } from "../core/store/checkpoint-store.js";
import { runDurationMs } from "./lease.js";
import { reachedBy, successorsOf } from "./reached.js";
import { stalledPartitions, stallWarning } from "./stalled.js";

/** The advisor's answer, from the first branch of the decision tree that decides. */
export type Verdict =
  | "insufficient-history"
  | "not-needed"
  | "retries-suffice"
  | "just-retry"
  | "consider"
  | "checkpoint"
  | "critical";

/** Thresholds of the decision tree; the defaults are the documented ones. */
export const ADVISE_THRESHOLDS = Object.freeze({
  /** Finished runs (completed or failed) needed before advising. */
  minRuns: 10,
  /** Below this failure rate checkpoints are not needed. */
  rareFailureRate: 0.05,
  /** From this failure rate, failures count as frequent (2-5 min branch). */
  frequentFailureRate: 0.2,
  /** Failures before this fraction of the partition count as "near the start". */
  nearStart: 0.1,
  /** Failures after this fraction count as "near the end". */
  nearEnd: 0.9,
  shortMs: 2 * 60_000,
  mediumMs: 5 * 60_000,
  longMs: 30 * 60_000,
  /** The checkpoint overhead the recommended batch size aims at. */
  targetOverhead: 0.01,
  /** Overhead above this means batches are too small. */
  maxOverhead: 0.05,
});

/** Options of {@link advise}. */
export interface AdviseOptions {
  /** Runs per week for the ROI figures. @default measured: finished runs scaled to 7 days of `windowMs` */
  readonly weeklyRuns?: number;
  /** How much history the runs cover, to measure runs per week. */
  readonly windowMs: number;
}

/** One branch of the decision tree with the figure that decided it. */
export interface AdviceStep {
  readonly check: string;
  readonly figure: string;
  readonly outcome: string;
}

/** Measured figures behind the advice; null where history cannot give them. */
export interface AdviceFigures {
  readonly finishedRuns: number;
  readonly failedRuns: number;
  readonly failureRate: number | null;
  /**
   * Mean position of failures in their partition: `(resumedFrom + processed) / total`, or the
   * next run's `resumedFrom / total` when that is further (a run that died recorded less).
   */
  readonly avgProgressAtFailure: number | null;
  readonly failuresNearEdges: number;
  /** Median time a whole partition takes, scaled from completed runs. */
  readonly typicalDurationMs: number | null;
  readonly weeklyRuns: number;
  /** `failureRate × avgProgressAtFailure × typicalDurationMs × weeklyRuns`. */
  readonly weeklyReworkMs: number | null;
  /** Sum of checkpointMs over sum of duration. */
  readonly overhead: number | null;
  /** `overhead × typicalDurationMs × weeklyRuns`. */
  readonly weeklyOverheadMs: number | null;
  /** `weeklyReworkMs - weeklyOverheadMs`. */
  readonly weeklyNetSavingMs: number | null;
  /** Sum of checkpointMs over sum of batches. */
  readonly commitLatencyMs: number | null;
  /** Sum of (duration - checkpointMs) over sum of processed. */
  readonly perEntityMs: number | null;
  /** Mean entities per batch in history. */
  readonly currentBatchSize: number | null;
  /** `ceil(commitLatencyMs / (targetOverhead × perEntityMs))`: overhead about 1%. */
  readonly recommendedBatchSize: number | null;
}

/** The advice for one processor. */
export interface Advice {
  readonly processor: string;
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
}

/** Applies the retry-versus-checkpoint decision tree to one processor's run history. */
export function advise(
  processor: string,
  runs: readonly RunRecord[],
  options: AdviseOptions,
): Advice {
  const t = ADVISE_THRESHOLDS;
  const f = measure(runs, options);
  const steps: AdviceStep[] = [];
  const done = (verdict: Verdict, summary: string, runsNeeded = 0): Advice => ({
    processor,
    verdict,
    summary,
    steps,
    figures: f,
    runsNeeded,
    // A warning from a handful of runs would be noise: it waits for enough history too.
    overheadWarning:
      verdict !== "insufficient-history" && f.overhead !== null && f.overhead > t.maxOverhead
        ? `Checkpoint overhead is ${pct(f.overhead)} (over ${pct(t.maxOverhead)}): use larger ` +
          `batches${f.recommendedBatchSize ? `, about ${f.recommendedBatchSize} entities` : ""}.`
        : null,
    stallWarning: stallWarning(stalledPartitions(runs)),
  });

  if (f.finishedRuns < t.minRuns || f.failureRate === null) {
    const needed = t.minRuns - f.finishedRuns;
    steps.push({
      check: "history",
      figure: `${f.finishedRuns} finished runs`,
      outcome: `need ${t.minRuns}`,
    });
    return done(
      "insufficient-history",
      `Not enough history: ${f.finishedRuns} finished runs, ${needed} more needed.`,
      needed,
    );
  }
  const rate = `${pct(f.failureRate)} (${f.failedRuns} of ${f.finishedRuns} runs failed)`;
  if (f.failureRate < t.rareFailureRate) {
    steps.push({ check: "failure rate", figure: rate, outcome: `under ${pct(t.rareFailureRate)}` });
    return done("not-needed", "Checkpoints are not needed: failures are rare.");
  }
  steps.push({ check: "failure rate", figure: rate, outcome: `${pct(t.rareFailureRate)} or more` });

  const located = f.avgProgressAtFailure !== null;
  if (located && f.failuresNearEdges === f.failedRuns) {
    steps.push({
      check: "where failures happen",
      figure: `all ${f.failedRuns} before ${pct(t.nearStart)} or after ${pct(t.nearEnd)}`,
      outcome: "only near the start or the end",
    });
    return done("retries-suffice", "Retries suffice: failures happen only near the start or end.");
  }
  steps.push({
    check: "where failures happen",
    figure: located ? `on average at ${pct(f.avgProgressAtFailure ?? 0)}` : "unknown (no totals)",
    outcome: "mid-run",
  });

  const d = f.typicalDurationMs;
  if (d === null) {
    steps.push({ check: "typical duration", figure: "no completed run", outcome: "unknown" });
    return done("insufficient-history", "Not enough history: no run has completed yet.", 1);
  }
  const figure = minutes(d);
  if (d < t.shortMs) {
    steps.push({ check: "typical duration", figure, outcome: "under 2 min" });
    return done("just-retry", "Just retry: a whole run is short.");
  }
  if (d <= t.mediumMs) {
    const frequent = f.failureRate >= t.frequentFailureRate;
    steps.push({
      check: "typical duration",
      figure,
      outcome: `2-5 min, failures ${frequent ? "frequent" : "infrequent"} (threshold ${pct(t.frequentFailureRate)})`,
    });
    return frequent
      ? done("consider", "Consider checkpoints: medium runs that fail often.")
      : done("just-retry", "Just retry: medium runs that rarely fail.");
  }
  if (d <= t.longMs) {
    steps.push({ check: "typical duration", figure, outcome: "over 5 min" });
    return done("checkpoint", "Checkpoint: long runs fail mid-way.");
  }
  steps.push({ check: "typical duration", figure, outcome: "over 30 min" });
  return done("critical", "Checkpoints are critical: very long runs fail mid-way.");
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

  const measured = runs.filter((r) => r.finishedAt !== null && r.status !== "busy");
  const duration = sum(measured.map((r) => runDurationMs(r) ?? 0));
  const checkpointMs = sum(measured.map((r) => r.checkpointMs));
  const batches = sum(measured.map((r) => r.batches));
  const processed = sum(measured.map((r) => r.processed));
  const overhead = duration > 0 ? checkpointMs / duration : null;
  const commitLatencyMs = batches > 0 ? checkpointMs / batches : null;
  const perEntityMs = processed > 0 ? Math.max(0, duration - checkpointMs) / processed : null;

  const weeklyReworkMs =
    failureRate !== null && avgProgressAtFailure !== null && typicalDurationMs !== null
      ? failureRate * avgProgressAtFailure * typicalDurationMs * weeklyRuns
      : null;
  const weeklyOverheadMs =
    overhead !== null && typicalDurationMs !== null
      ? overhead * typicalDurationMs * weeklyRuns
      : null;
  return {
    finishedRuns: finished.length,
    failedRuns: failed.length,
    failureRate,
    avgProgressAtFailure,
    failuresNearEdges: positions.filter((p) => p < t.nearStart || p > t.nearEnd).length,
    typicalDurationMs,
    weeklyRuns,
    weeklyReworkMs,
    overhead,
    weeklyOverheadMs,
    weeklyNetSavingMs:
      weeklyReworkMs !== null && weeklyOverheadMs !== null
        ? weeklyReworkMs - weeklyOverheadMs
        : null,
    commitLatencyMs,
    perEntityMs,
    currentBatchSize: batches > 0 ? processed / batches : null,
    recommendedBatchSize:
      commitLatencyMs !== null && perEntityMs !== null && perEntityMs > 0
        ? Math.max(1, Math.ceil(commitLatencyMs / (t.targetOverhead * perEntityMs)))
        : null,
  };
}

function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

function minutes(ms: number): string {
  return `${(ms / 60_000).toFixed(1)} min`;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function mean(values: readonly number[]): number {
  return sum(values) / values.length;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
