import { differenceTexts, durationText } from "./duration-text.js";

/**
 * The retry-versus-checkpoint decision tree, applied to figures however they were obtained:
 * measured from waymark's run history (`waymark advise`), read from a job log a team already
 * has (`--runs FILE`), or stated (`--what-if`). Checkpoints pay when failures are frequent,
 * happen mid-run, and runs are long; below that, retries are enough.
 */

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
  /** A net saving from this much a week is a strong case for adopting checkpoints. */
  strongWeeklySavingMs: 60 * 60_000,
  /** The checkpoint overhead the recommended batch size aims at. */
  targetOverhead: 0.01,
  /** Overhead above this means batches are too small. */
  maxOverhead: 0.05,
});

/** One branch of the decision tree with the figure that decided it. */
export interface AdviceStep {
  readonly check: string;
  readonly figure: string;
  readonly outcome: string;
}

/** What the tree decides from: the figures of `AdviceFigures` it reads. */
export interface TreeInput {
  /** Runs that completed or failed; null for stated figures, which count no runs. */
  readonly finishedRuns: number | null;
  readonly failedRuns: number | null;
  readonly failureRate: number | null;
  /**
   * Mean position of failures in their partition: `(resumedFrom + processed) / total`, or the
   * next run's `resumedFrom / total` when that is further (a run that died recorded less).
   */
  readonly avgProgressAtFailure: number | null;
  /** Failures near the start or end; when that is every failure, retries do. */
  readonly failuresNearEdges: number;
  /** Median time a whole partition takes, scaled from completed runs. */
  readonly typicalDurationMs: number | null;
  /**
   * The weekly waste without checkpoints, `failureRate × avgProgressAtFailure ×
   * typicalDurationMs × weeklyRuns`: the work failed runs did before failing, done again.
   */
  readonly weeklyReworkMs: number | null;
  /** The weekly waste with checkpoints, `overhead × typicalDurationMs × weeklyRuns`. */
  readonly weeklyOverheadMs: number | null;
}

/** The tree's answer: the verdict, a sentence, and the path that led there. */
export interface Decision {
  readonly verdict: Verdict;
  readonly summary: string;
  readonly steps: readonly AdviceStep[];
  /** Runs still needed before advising, when the verdict is `insufficient-history`. */
  readonly runsNeeded: number;
}

/** Walks the decision tree, recording each branch taken with the figure that decided it. */
export function decide(f: TreeInput): Decision {
  const t = ADVISE_THRESHOLDS;
  const steps: AdviceStep[] = [];
  const done = (verdict: Verdict, summary: string, runsNeeded = 0): Decision => ({
    verdict,
    summary,
    steps,
    runsNeeded,
  });

  if (f.finishedRuns !== null && (f.finishedRuns < t.minRuns || f.failureRate === null)) {
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
  const failureRate = f.failureRate ?? 0;
  const rate =
    f.finishedRuns === null
      ? `${pct(failureRate)} (stated)`
      : `${pct(failureRate)} (${f.failedRuns} of ${f.finishedRuns} runs failed)`;
  if (failureRate < t.rareFailureRate) {
    steps.push({ check: "failure rate", figure: rate, outcome: `under ${pct(t.rareFailureRate)}` });
    return done("not-needed", "Checkpoints are not needed: failures are rare.");
  }
  steps.push({ check: "failure rate", figure: rate, outcome: `${pct(t.rareFailureRate)} or more` });

  const located = f.avgProgressAtFailure !== null;
  // Stated figures describe one typical failure.
  if (located && f.failuresNearEdges === (f.failedRuns ?? 1)) {
    steps.push({
      check: "where failures happen",
      figure:
        f.failedRuns === null
          ? `at ${pct(f.avgProgressAtFailure ?? 0)} (stated)`
          : `all ${f.failedRuns} before ${pct(t.nearStart)} or after ${pct(t.nearEnd)}`,
      outcome: "only near the start or the end",
    });
    return done("retries-suffice", "Retries suffice: failures happen only near the start or end.");
  }
  steps.push({
    check: "where failures happen",
    figure: !located
      ? "unknown (no totals)"
      : f.failedRuns === null
        ? `at ${pct(f.avgProgressAtFailure ?? 0)} (stated)`
        : `on average at ${pct(f.avgProgressAtFailure ?? 0)}`,
    outcome: "mid-run",
  });

  const d = f.typicalDurationMs;
  if (d === null) {
    steps.push({ check: "typical duration", figure: "no completed run", outcome: "unknown" });
    return done("insufficient-history", "Not enough history: no run has completed yet.", 1);
  }
  const figure = durationText(d);
  if (d < t.shortMs) {
    steps.push({ check: "typical duration", figure, outcome: "under 2 min" });
    return done("just-retry", "Just retry: a whole run is short.");
  }
  let decision: Decision;
  if (d <= t.mediumMs) {
    const frequent = failureRate >= t.frequentFailureRate;
    steps.push({
      check: "typical duration",
      figure,
      outcome: `2-5 min, failures ${frequent ? "frequent" : "infrequent"} (threshold ${pct(t.frequentFailureRate)})`,
    });
    if (!frequent) return done("just-retry", "Just retry: medium runs that rarely fail.");
    decision = done("consider", "Consider checkpoints: medium runs that fail often.");
  } else if (d <= t.longMs) {
    steps.push({ check: "typical duration", figure, outcome: "over 5 min" });
    decision = done("checkpoint", "Checkpoint: long runs fail mid-way.");
  } else {
    steps.push({ check: "typical duration", figure, outcome: "over 30 min" });
    decision = done("critical", "Checkpoints are critical: very long runs fail mid-way.");
  }
  return withSaving(decision, f, steps);
}

/** The last branch: whether the net weekly saving is worth adopting checkpoints for. */
function withSaving(decision: Decision, f: TreeInput, steps: AdviceStep[]): Decision {
  if (f.weeklyReworkMs === null || f.weeklyOverheadMs === null) return decision;
  const net = f.weeklyReworkMs - f.weeklyOverheadMs;
  const strong = ADVISE_THRESHOLDS.strongWeeklySavingMs;
  // The same rounding as the weekly lines printed under the path, so that the figures agree.
  const figure = `${differenceTexts(f.weeklyReworkMs, f.weeklyOverheadMs)[2]} net`;
  if (net >= strong) {
    steps.push({ check: "weekly saving", figure, outcome: "1 h a week or more: a strong yes" });
    return {
      ...decision,
      summary: `${decision.summary} A strong yes: an hour a week or more saved.`,
    };
  }
  if (net > 0) {
    steps.push({ check: "weekly saving", figure, outcome: "under 1 h a week" });
    return { ...decision, summary: `${decision.summary} The saving is under an hour a week.` };
  }
  steps.push({ check: "weekly saving", figure, outcome: "none: the overhead costs as much" });
  return {
    ...decision,
    summary: `${decision.summary} But checkpoints cost as much as they save: retry instead.`,
  };
}

/** A row of the batch-size table: runs up to `upToMs` long checkpoint every `min`-`max` entities. */
export interface BatchSizeRow {
  readonly runs: string;
  readonly upToMs: number;
  readonly min: number;
  readonly max: number;
}

/**
 * The pattern's table of batch sizes by how long a whole run takes: longer runs afford fewer,
 * larger checkpoints. Runs under 2 minutes are retried, not checkpointed.
 */
export const BATCH_SIZE_TABLE: readonly BatchSizeRow[] = Object.freeze([
  { runs: "2-5 min", upToMs: 5 * 60_000, min: 25, max: 50 },
  { runs: "5-10 min", upToMs: 10 * 60_000, min: 50, max: 100 },
  { runs: "10-30 min", upToMs: 30 * 60_000, min: 100, max: 200 },
  { runs: "over 30 min", upToMs: Number.POSITIVE_INFINITY, min: 200, max: 500 },
]);

/** The table's row for runs of `durationMs`, or null for runs short enough to retry. */
export function tableBatchSize(durationMs: number | null): BatchSizeRow | null {
  if (durationMs === null || durationMs < ADVISE_THRESHOLDS.shortMs) return null;
  return BATCH_SIZE_TABLE.find((row) => durationMs <= row.upToMs) ?? null;
}

/** A fraction as `12.5%`. */
export function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}
