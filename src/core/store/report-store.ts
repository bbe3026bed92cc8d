import type { CheckpointKey } from "../types.js";
import type { QuotaReader } from "./quota-store.js";
import type {
  CheckpointFilter,
  CheckpointScan,
  FailureFilter,
  PartitionReset,
  RunFilter,
  RunRecord,
  SplitFilter,
  SplitRecord,
  StoredBackfill,
  StoredCheckpoint,
  StoredFailure,
  UnitCompletion,
} from "./records.js";
import type { CallBound, RunStore } from "./run-store.js";

/**
 * The read side of the store seam: what `status`, `runs`, `stats`, `stale`, `failures`,
 * `advise` and the dashboard read. Every method is one query, so a dashboard refresh costs
 * a fixed number of queries however many checkpoints there are.
 */
export interface ReportStore {
  /**
   * Checkpoints, newest commit first, optionally of one processor. Throws `CORRUPT_CHECKPOINT`
   * when a row is corrupt; {@link ReportStore.scanCheckpoints} lists the others beside it.
   */
  listCheckpoints(filter?: CheckpointFilter): Promise<StoredCheckpoint[]>;

  /**
   * The rows {@link ReportStore.listCheckpoints} reads, in the same one query, with the
   * corrupt ones set apart instead of refused: what the reports and the dashboard show.
   */
  scanCheckpoints(filter?: CheckpointFilter): Promise<CheckpointScan>;

  /** One checkpoint, or null. Throws `CORRUPT_CHECKPOINT` when its row is corrupt. */
  getCheckpoint(key: CheckpointKey): Promise<StoredCheckpoint | null>;

  /** Run history, newest first. */
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;

  /**
   * The history row of each checkpoint's current run (the run that last took its lease),
   * whatever that run's status: what `status` needs to rate the run in flight.
   */
  listCurrentRuns(filter?: CheckpointFilter): Promise<RunRecord[]>;

  /**
   * The failure ledger, ordered by processor, partition, shard and first failure: the open
   * entries, or with `filter.status` the resolved ones or all.
   */
  listFailures(filter?: FailureFilter): Promise<StoredFailure[]>;

  /**
   * The last completion of every shard (static, split off, or the whole partition) of each
   * partition that has a checkpoint now: what `status` adds to a partition's progress for the
   * parts of it already done.
   */
  listCompletions(filter?: CheckpointFilter): Promise<UnitCompletion[]>;

  /**
   * Backfills begun, newest first: when each began, and finished. Left out: those that
   * finished before the oldest checkpoint of their processor was made, which hold none of the
   * work in flight (a daily backfill's year of history is not read on every refresh).
   */
  listBackfills(filter?: CheckpointFilter): Promise<StoredBackfill[]>;

  /** Splits of running partitions and shards (dynamic splitting), newest first. */
  listSplits(filter?: SplitFilter): Promise<SplitRecord[]>;

  /** The quota keys and how they are used (one query); absent on a store without quotas. */
  readonly quotas?: QuotaReader;

  /** Releases connections and file handles. Idempotent. */
  close(): Promise<void>;
}

/**
 * The writes operators make outside any run: `reset`, `gc` and the dashboard's buttons.
 * Kept apart from the run side, so that nothing a run does can delete a checkpoint.
 */
export interface OperatorStore {
  /**
   * Deletes a checkpoint and its artifacts. With `unlessLeasedAt`, a checkpoint whose lease
   * is live at that time is kept, so that garbage collection never pulls progress out from
   * under a runner. Returns whether a row was deleted.
   */
  deleteCheckpoint(key: CheckpointKey, options?: { unlessLeasedAt?: number }): Promise<boolean>;

  /**
   * Starts a partition over, in one transaction: deletes every checkpoint of it (the whole
   * partition's, each static shard's, each split-off shard's) with their artifacts, and
   * forgets its completions, so that neither a run nor a backfill takes any part of it as
   * done. When a runner holds a live lease on any of them at `now` (by the store's clock,
   * where it keeps one), nothing is deleted.
   */
  resetPartition(processor: string, partition: string, now: number): Promise<PartitionReset>;

  /**
   * Inserts or replaces one run's history row: `gc` records abandoned runs as failed. The
   * same method as {@link RunStore.recordRun}.
   */
  recordRun(run: RunRecord, bound?: CallBound): Promise<void>;
}
