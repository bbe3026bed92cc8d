import type {
  CorruptCheckpoint,
  FailureFilter,
  RunFilter,
  RunRecord,
  SplitFilter,
  SplitRecord,
  StoredFailure,
} from "../core/store/records.js";
import type { ReportStore } from "../core/store/report-store.js";
import { type Advice, type AdviseOptions, advise } from "./advise.js";
import { type RunView, runsReport } from "./runs.js";
import { type RolledStatusRow, rolledStatus } from "./shard-rollup.js";
import { type StaleReport, staleReport } from "./stale.js";
import { type ProcessorStats, statsReport } from "./stats.js";

/**
 * The reports `waymark status`, `runs`, `stats`, `stale`, `advise` and `failures` print and the
 * dashboard shows, as functions over the read side of any store. Each costs a fixed number of
 * queries, however many checkpoints and runs there are, and none ever writes.
 */

const DAY = 86_400_000;

/** What every report takes: one processor only, and the time it is computed at. */
export interface ReportOptions {
  /** Only this processor. @default every processor */
  readonly processor?: string;
  /** The time the report is for, epoch ms. @default Date.now() */
  readonly now?: number;
}

/**
 * Checkpoints in flight with progress, rate, ETA, age and lease holder; a partition in parts
 * (static shards, shards split off) rolled up over its whole range, the parts already done
 * included, its shards under it; corrupt rows left out ({@link loadCorrupt} lists them). Four
 * queries.
 *
 * @example
 * const store = await openStore(url, { readOnly: true });
 * for (const row of await loadStatus(store)) console.log(row.partition, row.percent);
 */
export async function loadStatus(
  store: ReportStore,
  options: ReportOptions = {},
): Promise<RolledStatusRow[]> {
  const { processor } = options;
  const [{ checkpoints }, current, completions, backfills] = await Promise.all([
    store.scanCheckpoints({ processor }),
    store.listCurrentRuns({ processor }),
    store.listCompletions({ processor }),
    store.listBackfills({ processor }),
  ]);
  const reads = { checkpoints, current, completions, backfills };
  return rolledStatus(reads, options.now ?? Date.now());
}

/** Options of {@link loadRuns}: the history filters, and the time liveness is judged at. */
export interface RunsReportOptions extends RunFilter {
  /** @default Date.now() */
  readonly now?: number;
}

/**
 * Run history, newest first (all of it unless `limit` says), with runs in flight and runs whose
 * process died shown at what they committed. Two queries.
 */
export async function loadRuns(
  store: ReportStore,
  options: RunsReportOptions = {},
): Promise<RunView[]> {
  const { now, ...filter } = options;
  const [runs, { checkpoints }] = await Promise.all([
    store.listRuns(filter),
    store.scanCheckpoints({ processor: filter.processor }),
  ]);
  return runsReport(runs, checkpoints, now ?? Date.now());
}

/**
 * Splits of running partitions and shards, newest first: when, at which cursor, the shard it
 * made, who asked and which run split. One query.
 */
export function loadSplits(store: ReportStore, filter: SplitFilter = {}): Promise<SplitRecord[]> {
  return store.listSplits(filter);
}

/**
 * Checkpoint rows that hold values no run could have written, with the field, the value and
 * the reset that recovers each: the rows `status`, `runs` and `stale` leave out and flag. One
 * query.
 */
export async function loadCorrupt(
  store: ReportStore,
  options: Pick<ReportOptions, "processor"> = {},
): Promise<CorruptCheckpoint[]> {
  return (await store.scanCheckpoints({ processor: options.processor })).corrupt;
}

/** Options of {@link loadStats}. */
export interface StatsReportOptions extends ReportOptions {
  /** Runs started at or after this time, epoch ms. @default 7 days before `now` */
  readonly since?: number;
}

/** What checkpoints saved, per processor, over a window of history. One query. */
export async function loadStats(
  store: ReportStore,
  options: StatsReportOptions = {},
): Promise<ProcessorStats[]> {
  const since = options.since ?? (options.now ?? Date.now()) - 7 * DAY;
  return statsReport(await store.listRuns({ processor: options.processor, since }), since);
}

/** Options of {@link loadStale}. */
export interface StaleReportOptions extends ReportOptions {
  /** Silent for longer than this. @default 86_400_000 (24 h) */
  readonly olderThanMs?: number;
}

/** Stale checkpoints and runs left `running` by a process that died: what `gc` removes. Three queries. */
export async function loadStale(
  store: ReportStore,
  options: StaleReportOptions = {},
): Promise<StaleReport> {
  const { processor } = options;
  const [{ checkpoints, corrupt }, running, current] = await Promise.all([
    store.scanCheckpoints({ processor }),
    store.listRuns({ processor, status: "running" }),
    store.listCurrentRuns({ processor }),
  ]);
  const now = options.now ?? Date.now();
  return staleReport(checkpoints, running, now, options.olderThanMs ?? DAY, current, corrupt);
}

/** Options of {@link loadAdvice}. */
export interface AdviceReportOptions extends ReportOptions {
  /** How much history to judge from. @default 2_592_000_000 (30 days) */
  readonly windowMs?: number;
  /** Runs per week for the ROI figures. @default measured from the window */
  readonly weeklyRuns?: number;
}

/** Retry or checkpoint: the advisor's verdict and figures per processor. One query. */
export async function loadAdvice(
  store: ReportStore,
  options: AdviceReportOptions = {},
): Promise<Advice[]> {
  const windowMs = options.windowMs ?? 30 * DAY;
  const since = (options.now ?? Date.now()) - windowMs;
  const runs = await store.listRuns({ processor: options.processor, since });
  const adviseOptions =
    options.weeklyRuns === undefined ? { windowMs } : { windowMs, weeklyRuns: options.weeklyRuns };
  return adviceFrom(runs, adviseOptions, options.processor);
}

/** The failure ledger: entities skipped after every attempt failed, for `redrive`. One query. */
export function loadFailures(
  store: ReportStore,
  filter: FailureFilter = {},
): Promise<StoredFailure[]> {
  return store.listFailures(filter);
}

/** The advisor's verdicts from runs already read. */
export function adviceFrom(
  runs: readonly RunRecord[],
  options: AdviseOptions,
  processor?: string,
): Advice[] {
  // Redrives reprocess ledger entries: they are neither retries nor resumes.
  const ofRuns = runs.filter((r) => r.kind !== "redrive");
  const names = processor ? [processor] : [...new Set(ofRuns.map((r) => r.processor))].sort();
  return names.map((name) =>
    advise(
      name,
      ofRuns.filter((r) => r.processor === name),
      options,
    ),
  );
}
