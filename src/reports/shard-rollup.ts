import { splitShardKey } from "../core/shards.js";
import type { StatusRow } from "./status.js";

/** A status row, with how many shards in flight it rolls up when the partition is sharded. */
export interface RolledStatusRow extends StatusRow {
  /** Shards of this partition with a checkpoint; absent for an unsharded partition. */
  readonly shards?: number;
}

/**
 * Rolls the checkpoints of a sharded partition (`2024-01-15#0`, `2024-01-15#1`) up into one
 * row for `2024-01-15`: entities and totals summed, rates summed, the freshest age. Shards
 * already complete have no checkpoint, so the row counts the shards still in flight.
 */
export function rollUpShards(rows: readonly StatusRow[]): RolledStatusRow[] {
  const out: RolledStatusRow[] = [];
  const groups = new Map<string, StatusRow[]>();
  for (const row of rows) {
    const { partition, shard } = splitShardKey(row.partition);
    if (shard === null) {
      out.push(row);
      continue;
    }
    const key = JSON.stringify([row.processor, partition]);
    const group = groups.get(key);
    if (group) group.push(row);
    else {
      groups.set(key, [row]);
      out.push({ ...row, partition, shards: 0 }); // placeholder, filled in below
    }
  }
  return out.map((row) => {
    if (row.shards === undefined) return row;
    return merge(row.partition, groups.get(JSON.stringify([row.processor, row.partition])) ?? []);
  });
}

function merge(partition: string, shards: readonly StatusRow[]): RolledStatusRow {
  const first = shards[0] as StatusRow;
  const completed = sum(shards.map((s) => s.completed));
  const total = shards.every((s) => s.total !== null) ? sum(shards.map((s) => s.total ?? 0)) : null;
  const rates = shards.map((s) => s.ratePerSecond).filter((r): r is number => r !== null);
  const ratePerSecond = rates.length > 0 ? sum(rates) : null;
  const holders = [...new Set(shards.map((s) => s.leaseHolder).filter((h) => h !== null))];
  const remaining = total === null ? null : Math.max(0, total - completed);
  return {
    processor: first.processor,
    partition,
    completed,
    total,
    percent: total ? Math.round((completed / total) * 1000) / 10 : null,
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
    shards: shards.length,
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
