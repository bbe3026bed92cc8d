import { WHOLE_PARTITION } from "../core/checkpoint-key.js";
import type {
  RunRecord,
  StoredBackfill,
  StoredCheckpoint,
  UnitCompletion,
} from "../core/store/records.js";
import { completedParts, partitionId } from "./completed-parts.js";
import { type StatusRow, statusReport } from "./status.js";

/** A shard of a partition in flight that has completed already: what it covered. */
export interface CompletedShard {
  /** Its id: a static shard's, a split-off one's (`~…`), or `""` for the partition's first part. */
  readonly shard: string;
  /** Entities it completed; null on rows from before completions recorded them. */
  readonly completed: number | null;
  readonly completedAt: number;
  readonly runId: string | null;
}

/** A status row; for a partition in parts, the sum of its parts with each part beneath it. */
export interface RolledStatusRow extends StatusRow {
  /** The shards of this partition that have a checkpoint; absent for a partition in one part. */
  readonly shards?: readonly StatusRow[];
  /** Its shards completed already, whose entities count in `completed` and `total`. */
  readonly completedShards?: readonly CompletedShard[];
}

/** What the status report is made of: four reads of the store. */
export interface StatusReads {
  readonly checkpoints: readonly StoredCheckpoint[];
  /** The history rows of the checkpoints' current runs. */
  readonly current: readonly RunRecord[];
  readonly completions: readonly UnitCompletion[];
  readonly backfills: readonly StoredBackfill[];
}

/** The status report: a row per checkpoint, each partition in parts rolled up. */
export function rolledStatus(reads: StatusReads, now: number): RolledStatusRow[] {
  const { checkpoints, current, completions, backfills } = reads;
  return rollUpShards(
    statusReport(checkpoints, current, now),
    completedParts(checkpoints, completions, backfills),
  );
}

/**
 * Rolls a partition in parts up into one row: static shards (`shards()`), shards split off a
 * running one, and the parts of it already done (`done`, by partition: see
 * `completedParts`). Its progress is the fraction of its whole range: entities and totals of
 * every part summed, completed ones included; rates summed, the freshest age. The rows of the
 * parts in flight go in its `shards`. A row's place is that of its first part.
 */
export function rollUpShards(
  rows: readonly StatusRow[],
  done: ReadonlyMap<string, readonly UnitCompletion[]> = new Map(),
): RolledStatusRow[] {
  const inParts = new Set(done.keys());
  for (const row of rows) if (row.shard !== WHOLE_PARTITION) inParts.add(partitionId(row));
  const out: Array<RolledStatusRow | StatusRow[]> = [];
  const groups = new Map<string, StatusRow[]>();
  for (const row of rows) {
    if (!inParts.has(partitionId(row))) {
      out.push(row);
      continue;
    }
    const group = groups.get(partitionId(row));
    if (group) group.push(row);
    else {
      const created = [row];
      groups.set(partitionId(row), created);
      out.push(created);
    }
  }
  return out.map((row) =>
    Array.isArray(row) ? merge(row, done.get(partitionId(row[0] as StatusRow)) ?? []) : row,
  );
}

function merge(shards: StatusRow[], completions: readonly UnitCompletion[]): RolledStatusRow {
  const first = shards[0] as StatusRow;
  shards.sort((a, b) => byShard(a.shard, b.shard));
  const completedShards = completions
    .map((c) => ({
      shard: c.shard,
      completed: c.completed ?? c.total,
      completedAt: c.completedAt,
      runId: c.runId,
    }))
    .sort((a, b) => byShard(a.shard, b.shard));
  // A part that completed covered what it completed: that is its total.
  const doneEntities = sum(completedShards.map((c) => c.completed ?? 0));
  const completed = sum(shards.map((s) => s.completed)) + doneEntities;
  const known =
    shards.every((s) => s.total !== null) && completedShards.every((c) => c.completed !== null);
  const total = known ? sum(shards.map((s) => s.total ?? 0)) + doneEntities : null;
  const rates = shards.map((s) => s.ratePerSecond).filter((r): r is number => r !== null);
  const ratePerSecond = rates.length > 0 ? sum(rates) : null;
  const holders = [...new Set(shards.map((s) => s.leaseHolder).filter((h) => h !== null))];
  const remaining = total === null ? null : Math.max(0, total - completed);
  return {
    processor: first.processor,
    partition: first.partition,
    shard: WHOLE_PARTITION,
    completed,
    total,
    percent: total ? Math.min(100, Math.round((completed / total) * 1000) / 10) : null,
    cursor: null,
    ageMs: Math.min(...shards.map((s) => s.ageMs)),
    leaseHolder: holders.length === 0 ? null : holders.join(", "),
    runId: null,
    resumes: sum(shards.map((s) => s.resumes)),
    ratePerSecond,
    etaMs:
      holders.length > 0 && ratePerSecond && remaining !== null
        ? Math.round((remaining / ratePerSecond) * 1000)
        : null,
    range: null,
    parent: null,
    splitNote: null,
    splitRequestedBy: null,
    shards,
    completedShards,
  };
}

/** Shards in a readable order: `""` (the partition's first part) first, numbers as numbers. */
function byShard(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
