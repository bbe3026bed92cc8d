import type { QuotaStore } from "./quota-store.js";
import type { OperatorStore, ReportStore } from "./report-store.js";
import type { RunStore } from "./run-store.js";

export type {
  CheckpointFilter,
  CheckpointScan,
  CorruptCheckpoint,
  DeletedCheckpoint,
  FailureFilter,
  FailureStatus,
  PartitionReset,
  RunFilter,
  RunKind,
  RunRecord,
  SplitFilter,
  SplitRecord,
  StoredBackfill,
  StoredCheckpoint,
  StoredFailure,
  UnitCompletion,
} from "./records.js";
export type { OperatorStore, ReportStore } from "./report-store.js";
export type {
  AcquireRequest,
  AcquireResult,
  BatchCommit,
  BatchScope,
  CallBound,
  CheckpointWrite,
  FailureWrite,
  LeaseHandle,
  LedgerCommit,
  ReadBack,
  RunStore,
} from "./run-store.js";
export { acquiredLease, fencedMessage } from "./run-store.js";

/**
 * A whole store: the run side ({@link RunStore}), the read side reports use
 * ({@link ReportStore}) and the operators' writes ({@link OperatorStore}). `MemoryStore`,
 * `SqliteStore` and `PostgresStore` are each one; `openStore` returns one. Functions ask for
 * the narrowest side they use.
 */
export interface CheckpointStore<Tx = unknown> extends RunStore<Tx>, ReportStore, OperatorStore {
  /** Both sides of quotas: what runs take and what reports read. */
  readonly quotas?: QuotaStore;
}
