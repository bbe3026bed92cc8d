export type { ArtifactSource } from "./core/artifact-codec.js";
export type { ArtifactInfo, Artifacts } from "./core/artifacts.js";
export { checkpointKey, describeKey } from "./core/checkpoint-key.js";
export type {
  RateLimitedOptions,
  RateLimitedResponse,
  StoreErrorCode,
  WaymarkErrorCode,
} from "./core/errors.js";
export {
  CorruptCheckpointError,
  FencedError,
  InvalidOptionError,
  OrderViolationError,
  RateLimitedError,
  StateError,
  StoreError,
  WaymarkError,
} from "./core/errors.js";
export type { JsonLoggerOptions } from "./core/logger.js";
export { consoleLogger, jsonLogger, silentLogger } from "./core/logger.js";
export type {
  BatchCommittedEvent,
  QuotaPausedEvent,
  QuotaTakenEvent,
  RunEventBase,
  RunFinishedEvent,
  RunMetrics,
  RunStartedEvent,
} from "./core/metrics-hooks.js";
export type { AdaptiveBatchOptions, BatchSizeOption } from "./core/policies/adaptive-batch.js";
export type { CircuitBreakerLike } from "./core/policies/breaker.js";
export { cloudRunDeadline, lambdaDeadline } from "./core/policies/deadline.js";
export type { QuotaHandle } from "./core/policies/quota.js";
export type { QuotaCost, QuotaOptions } from "./core/policies/quota-options.js";
export type { RetryOptions } from "./core/policies/retry.js";
export type { SkipOptions } from "./core/policies/skip.js";
export { RunStoppedError } from "./core/policies/stop.js";
export type {
  BatchContext,
  CheckpointMigration,
  EntitiesArgs,
  EntitySource,
  IdOf,
  MigratedCheckpoint,
  Processor,
  ProcessorDefinition,
  ShouldRunArgs,
} from "./core/processor.js";
export { defineProcessor } from "./core/processor.js";
export type { RedriveOptions, RedriveResult } from "./core/redrive.js";
export { redrive } from "./core/redrive.js";
export { run } from "./core/run.js";
export type { RunOptions, RunProgress } from "./core/run-options.js";
export { runPartitions } from "./core/run-partitions.js";
export type {
  PartitionOutcome,
  PartitionStatus,
  PartitionsResult,
  RunPartitionsOptions,
} from "./core/run-partitions-options.js";
export type { RunResult } from "./core/run-result.js";
export type { Shard, ShardsArgs, SplitArgs } from "./core/shard-types.js";
export type { BuiltInCodec, StateCodec } from "./core/state-codecs.js";
export { jsonStateCodec, v8StateCodec } from "./core/state-codecs.js";
export type { ArtifactRef, ArtifactStore } from "./core/store/artifact-store.js";
export type { CheckpointStore } from "./core/store/checkpoint-store.js";
export type {
  QuotaGiveBack,
  QuotaGrant,
  QuotaPause,
  QuotaPauseState,
  QuotaReader,
  QuotaSpec,
  QuotaStore,
  QuotaTake,
  StoredQuota,
} from "./core/store/quota-store.js";
export type {
  CheckpointFilter,
  CheckpointScan,
  CorruptCheckpoint,
  DeletedCheckpoint,
  FailureFilter,
  FailureStatus,
  PartitionReset,
  RunFilter,
  RunRecord,
  SplitFilter,
  SplitRecord,
  StoredBackfill,
  StoredCheckpoint,
  StoredFailure,
  UnitCompletion,
  UnitRange,
} from "./core/store/records.js";
export type { OperatorStore, ReportStore } from "./core/store/report-store.js";
export type {
  AcquireRequest,
  AcquireResult,
  BatchScope,
  CheckpointWrite,
  FailureWrite,
  LeaseHandle,
  RunStore,
} from "./core/store/run-store.js";
export type {
  CheckpointKey,
  Cursor,
  LogFields,
  Logger,
  LogLevel,
  RecordedRunStatus,
  RunStatus,
  SuspendReason,
} from "./core/types.js";
export { openTelemetryTracing } from "./metrics/opentelemetry.js";
export type { PrometheusMetricsOptions } from "./metrics/prometheus.js";
export { prometheusMetrics } from "./metrics/prometheus.js";
export type { GcResult, ResetOutcome } from "./reports/actions.js";
export { collectGarbage, resetCheckpoint } from "./reports/actions.js";
export type { Advice, AdviceFigures, AdviceStep, Verdict } from "./reports/advise.js";
export type {
  AdviceReportOptions,
  ReportOptions,
  RunsReportOptions,
  StaleReportOptions,
  StatsReportOptions,
} from "./reports/load.js";
export {
  loadAdvice,
  loadFailures,
  loadRuns,
  loadSplits,
  loadStale,
  loadStats,
  loadStatus,
} from "./reports/load.js";
export type { QuotaStatusRow } from "./reports/quotas.js";
export { loadQuotas } from "./reports/quotas.js";
export type { RunningState } from "./reports/reached.js";
export type { RunView } from "./reports/runs.js";
export type { CompletedShard, RolledStatusRow } from "./reports/shard-rollup.js";
export type { DeadRun, DeadRunCause, StaleCheckpoint, StaleReport } from "./reports/stale.js";
export type { ProcessorStats } from "./reports/stats.js";
export type { StatusRow } from "./reports/status.js";
export type { DaysOptions } from "./sources/days.js";
export { days } from "./sources/days.js";
export type { Decoder } from "./sources/decode.js";
export type { FileOptions, FileRecord } from "./sources/file.js";
export { fromFile } from "./sources/file.js";
export type { CsvOptions } from "./sources/file-csv.js";
export type { KeyValue } from "./sources/key-cursor.js";
export { keyCursor, parseKeyCursor } from "./sources/key-cursor.js";
export { fromQuery } from "./sources/query.js";
export type {
  CursorOfKey,
  KeyOption,
  QueryDatabase,
  QueryOptions,
  WhereOption,
} from "./sources/query-options.js";
export type { RangeOptions } from "./sources/range.js";
export { fromRange } from "./sources/range.js";
export type { PerPartition, Source, SourceArgs } from "./sources/source.js";
export type { PartitionPlaceholder, RawSql, SqlTag } from "./sources/sql.js";
export { SqlFragment, sql } from "./sources/sql.js";
export type { GroupCommitStats } from "./stores/group-commit.js";
export type { MemoryTx } from "./stores/memory/memory-store.js";
export { MemoryStore } from "./stores/memory/memory-store.js";
export type { AnyStore, OpenStoreOptions } from "./stores/open-store.js";
export { DEFAULT_STORE_URL, openStore } from "./stores/open-store.js";
export type {
  PostgresCommonOptions,
  PostgresStoreOptions,
} from "./stores/postgres/postgres-options.js";
export { openPostgresStore, PostgresStore } from "./stores/postgres/postgres-store.js";
export type { PgTx } from "./stores/postgres/postgres-tx.js";
export type { StoreSchema } from "./stores/schema.js";
export { applySchema, describeSchema } from "./stores/schema.js";
export type { SqliteStoreOptions } from "./stores/sqlite/sqlite-store.js";
export { SqliteStore } from "./stores/sqlite/sqlite-store.js";
export { SqliteTx } from "./stores/sqlite/sqlite-tx.js";
