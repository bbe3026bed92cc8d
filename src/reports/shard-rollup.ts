import { WHOLE_PARTITION } from "../core/checkpoint-key.js";
import type { StatusRow } from "./status.js";

/** A status row; for a sharded partition, the sum of its shards with each shard beneath it. */
export interface RolledStatusRow extends StatusRow {
  /** The shards of this partition that have a checkpoint; absent for an unsharded one. */
  readonly shards?: readonly StatusRow[];
}

/**
 * Rolls the checkpoints of a sharded partition (shards `0`, `1` of `2024-01-15`) up into one
 * row for `2024-01-15`: entities and totals summed, rates summed, the freshest age; the
 * shards' own rows go in its `shards`. Shards already complete have no checkpoint, so the
 * row counts the shards still in flight. A row's place is that of its first shard.
 */
export function rollUpShards(rows: readonly StatusRow[]): RolledStatusRow[] {
  const out: Array<RolledStatusRow | StatusRow[]> = [];
  const groups = new Map<string, StatusRow[]>();
  for (const row of rows) {
    if (row.shard === WHOLE_PARTITION) {
      out.push(row);
      continue;
    }
    const key = JSON.stringify([row.processor, row.partition]);
    const group = groups.get(key);
    if (group) group.push(row);
    else {
      const created = [row];
      groups.set(key, created);
      out.push(created);
    }
  }
  return out.map((row) => (Array.isArray(row) ? merge(row) : row));
}

function merge(shards: StatusRow[]): RolledStatusRow {
  const first = shards[0] as StatusRow;
  shards.sort((a, b) => a.shard.localeCompare(b.shard, "en", { numeric: true }));
  const completed = sum(shards.map((s) => s.completed));
  const total = shards.every((s) => s.total !== null) ? sum(shards.map((s) => s.total ?? 0)) : null;
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
    shards,
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
