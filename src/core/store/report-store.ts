import type { CheckpointKey } from "../types.js";
import type {
  CheckpointFilter,
  CheckpointScan,
  FailureFilter,
  RunFilter,
  RunRecord,
  StoredCheckpoint,
  StoredFailure,
} from "./records.js";

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

  /** Inserts or replaces one run's history row: `gc` records abandoned runs as failed. */
  recordRun(run: RunRecord): Promise<void>;
}
