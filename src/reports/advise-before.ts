import { InvalidOptionError } from "../core/errors.js";
import { type Advice, type AdviceFigures, adviceOf, weeklyFigures } from "./advise.js";
import { mean, median } from "./averages.js";
import { ADVISE_THRESHOLDS, pct, tableBatchSize } from "./decision-tree.js";
import type { JobRun } from "./job-log.js";

/**
 * Advice before adopting waymark, when there is no waymark history to measure: from figures a
 * team states (`advise --what-if`), or from a job log it already keeps (`advise --runs FILE`).
 * The same decision tree and weekly arithmetic as `advise` on history.
 */

/** Figures stated for a what-if. Fractions are 0..1. */
export interface StatedFigures {
  /** How long a whole run takes, in ms. */
  readonly durationMs?: number;
  /** The share of runs that fail. */
  readonly failureRate?: number;
  /** How far a failed run gets, on average. @default 0.5, and says so */
  readonly failAt?: number;
  /** Runs per week. */
  readonly weeklyRuns?: number;
  /** Checkpoint overhead: commit time over run time. @default 0.01, and says so */
  readonly overhead?: number;
}

/** The overhead assumed when none is stated: what waymark's adaptive batch size aims at. */
const ASSUMED_OVERHEAD = ADVISE_THRESHOLDS.targetOverhead;
/** Where a failure is assumed to happen when nothing says: anywhere, evenly. */
const ASSUMED_FAIL_AT = 0.5;

/**
 * The decision and ROI from stated figures: `duration`, `failureRate` and `weeklyRuns` must be
 * given; `failAt` and `overhead` are assumed (50%, 1%) when not, and the advice notes it.
 *
 * @example
 * adviseStated("training", { durationMs: 30 * 60_000, failureRate: 0.1, failAt: 0.66, weeklyRuns: 50, overhead: 0.005 });
 * // verdict "checkpoint": 99 min a week wasted without checkpoints, 7.5 min with them
 */
export function adviseStated(
  name: string,
  stated: Required<Pick<StatedFigures, "durationMs" | "failureRate" | "weeklyRuns">> &
    StatedFigures,
): Advice {
  const notes: string[] = [];
  const failAt = stated.failAt ?? assumed(notes, "fail-at", ASSUMED_FAIL_AT);
  const overhead = stated.overhead ?? assumed(notes, "overhead", ASSUMED_OVERHEAD);
  const t = ADVISE_THRESHOLDS;
  const base = {
    finishedRuns: null,
    failedRuns: null,
    failureRate: stated.failureRate,
    avgProgressAtFailure: failAt,
    failuresNearEdges: failAt < t.nearStart || failAt > t.nearEnd ? 1 : 0,
    typicalDurationMs: stated.durationMs,
    weeklyRuns: stated.weeklyRuns,
    overhead,
  };
  return adviceOf(name, "stated", figures(base), { notes });
}

/** Options of {@link adviseJobLog}: stated figures override what the log measures. */
export interface JobLogAdviceOptions extends Omit<StatedFigures, "durationMs" | "failureRate"> {
  /** Runs the log left out (still running), to say so. */
  readonly unfinished?: number;
}

/**
 * The decision and ROI from a job log's runs: the failure rate and where failures happen, the
 * typical (median) duration of runs that completed, and runs per week from the time the log
 * spans; the overhead (and, where the log does not say, the progress at failure) assumed
 * unless stated.
 */
export function adviseJobLog(
  name: string,
  runs: readonly JobRun[],
  options: JobLogAdviceOptions = {},
): Advice {
  const t = ADVISE_THRESHOLDS;
  const notes: string[] = [];
  const failed = runs.filter((r) => r.failed);
  const positions = failed.flatMap((r) => (r.progress === null ? [] : [r.progress]));
  let avgProgressAtFailure = options.failAt ?? (positions.length > 0 ? mean(positions) : null);
  if (avgProgressAtFailure === null && failed.length > 0) {
    avgProgressAtFailure = assumed(notes, "fail-at", ASSUMED_FAIL_AT, "the log has no progress");
  }
  const completed = runs.filter((r) => !r.failed).map((r) => r.durationMs);
  const weeklyRuns = options.weeklyRuns ?? measuredWeeklyRuns(runs);
  if (weeklyRuns === null) {
    throw new InvalidOptionError(
      "weeklyRuns",
      `The job log's ${runs.length} runs span no time, so runs per week cannot be measured: ` +
        "state them (weeklyRuns, or --what-if weekly-runs=50).",
    );
  }
  if (options.unfinished) {
    notes.push(`${options.unfinished} runs still going (no outcome yet) were left out`);
  }
  const overhead = options.overhead ?? assumed(notes, "overhead", ASSUMED_OVERHEAD);
  const base = {
    finishedRuns: runs.length,
    failedRuns: failed.length,
    failureRate: runs.length > 0 ? failed.length / runs.length : null,
    avgProgressAtFailure,
    failuresNearEdges:
      options.failAt !== undefined
        ? options.failAt < t.nearStart || options.failAt > t.nearEnd
          ? failed.length
          : 0
        : positions.filter((p) => p < t.nearStart || p > t.nearEnd).length,
    typicalDurationMs: completed.length > 0 ? median(completed) : null,
    weeklyRuns,
    overhead,
  };
  return adviceOf(name, "job-log", figures(base), { notes });
}

/** The figures of a source that measures no commits: the weekly arithmetic and the table. */
function figures(
  base: Pick<
    AdviceFigures,
    | "finishedRuns"
    | "failedRuns"
    | "failureRate"
    | "avgProgressAtFailure"
    | "failuresNearEdges"
    | "typicalDurationMs"
    | "weeklyRuns"
    | "overhead"
  >,
): AdviceFigures {
  return {
    ...base,
    ...weeklyFigures(base),
    commitLatencyMs: null,
    perEntityMs: null,
    currentBatchSize: null,
    recommendedBatchSize: null,
    batchSizeRange: tableBatchSize(base.typicalDurationMs),
  };
}

/** Runs per week from the first start to the last: n runs span n - 1 intervals. */
function measuredWeeklyRuns(runs: readonly JobRun[]): number | null {
  if (runs.length < 2) return null;
  const starts = runs.map((r) => r.startedAt);
  const span = Math.max(...starts) - Math.min(...starts);
  return span > 0 ? ((runs.length - 1) * 7 * 86_400_000) / span : null;
}

function assumed(notes: string[], key: string, value: number, why = "not stated"): number {
  notes.push(`${key} assumed ${pct(value)} (${why}); state it with --what-if ${key}=N%`);
  return value;
}
