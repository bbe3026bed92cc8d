import type {
  CheckpointFilter,
  FailureFilter,
  RunFilter,
  RunRecord,
  SplitFilter,
  SplitRecord,
  StoredCheckpoint,
  StoredFailure,
  UnitCompletion,
} from "../../core/store/records.js";

/** The read side of a `MemoryStore`: filters and orders as the SQL stores do. */

/** Checkpoints, newest commit first. */
export function selectCheckpoints(
  checkpoints: Iterable<StoredCheckpoint>,
  filter: CheckpointFilter,
): StoredCheckpoint[] {
  return [...checkpoints]
    .filter((c) => filter.processor === undefined || c.processor === filter.processor)
    .sort(
      (a, b) =>
        b.updatedAt - a.updatedAt ||
        byCodeUnits(a.processor, b.processor) ||
        byCodeUnits(a.partition, b.partition) ||
        byCodeUnits(a.shard, b.shard),
    );
}

/** Run history, newest first. */
export function selectRuns(runs: Iterable<RunRecord>, filter: RunFilter): RunRecord[] {
  const selected = [...runs]
    .filter(
      (r) =>
        (filter.processor === undefined || r.processor === filter.processor) &&
        (filter.partition === undefined || r.partition === filter.partition) &&
        (filter.shard === undefined || r.shard === filter.shard) &&
        (filter.status === undefined || r.status === filter.status) &&
        (filter.since === undefined || r.startedAt >= filter.since) &&
        (filter.runId === undefined || r.runId === filter.runId),
    )
    .sort((a, b) => b.startedAt - a.startedAt || byCodeUnits(b.runId, a.runId));
  return filter.limit === undefined ? selected : selected.slice(0, filter.limit);
}

/** Ledger entries (open ones unless the filter says) by processor, partition, shard, first failure. */
export function selectFailures(
  failures: Iterable<StoredFailure>,
  filter: FailureFilter,
): StoredFailure[] {
  const status = filter.status ?? "open";
  return [...failures]
    .filter(
      (f) =>
        (filter.processor === undefined || f.processor === filter.processor) &&
        (filter.partition === undefined || f.partition === filter.partition) &&
        (filter.shard === undefined || f.shard === filter.shard) &&
        (status === "all" || (f.resolvedAt === null) === (status === "open")),
    )
    .sort(
      (a, b) =>
        byCodeUnits(a.processor, b.processor) ||
        byCodeUnits(a.partition, b.partition) ||
        byCodeUnits(a.shard, b.shard) ||
        a.firstFailedAt - b.firstFailedAt ||
        byCodeUnits(JSON.stringify(a.cursor), JSON.stringify(b.cursor)),
    );
}

/** The completions of the partitions that have a checkpoint, by processor, partition, shard. */
export function selectCompletions(
  completions: Iterable<UnitCompletion>,
  checkpoints: Iterable<StoredCheckpoint>,
  filter: CheckpointFilter,
): UnitCompletion[] {
  const inFlight = new Set([...checkpoints].map((c) => JSON.stringify([c.processor, c.partition])));
  return [...completions]
    .filter(
      (c) =>
        (filter.processor === undefined || c.processor === filter.processor) &&
        inFlight.has(JSON.stringify([c.processor, c.partition])),
    )
    .sort(
      (a, b) =>
        byCodeUnits(a.processor, b.processor) ||
        byCodeUnits(a.partition, b.partition) ||
        byCodeUnits(a.shard, b.shard),
    );
}

/** Split history, newest first. */
export function selectSplits(splits: Iterable<SplitRecord>, filter: SplitFilter): SplitRecord[] {
  const selected = [...splits]
    .filter(
      (s) =>
        (filter.processor === undefined || s.processor === filter.processor) &&
        (filter.partition === undefined || s.partition === filter.partition) &&
        (filter.since === undefined || s.splitAt >= filter.since),
    )
    .sort(
      (a, b) =>
        b.splitAt - a.splitAt ||
        byCodeUnits(a.processor, b.processor) ||
        byCodeUnits(a.partition, b.partition) ||
        byCodeUnits(a.newShard, b.newShard),
    );
  return filter.limit === undefined ? selected : selected.slice(0, filter.limit);
}

/** Orders strings as SQL's binary collation does. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
