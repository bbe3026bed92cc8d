import type { DeletedCheckpoint, StoredBackfill } from "../core/store/records.js";

/** Rows the SQL stores' read side and operators' writes return, beside those of sql-rows.ts. */

/** A `backfills` row as SQL returns it. */
export interface BackfillRow {
  processor: string;
  backfill_id: string;
  partitions: number | string;
  started_at: number | string;
  updated_at: number | string;
  finished_at: number | string | null;
}

/** What a partition's reset returns of each checkpoint it deleted. */
export interface DeletedRow {
  shard: string;
  completed: unknown;
  total: unknown;
}

/** Maps a `backfills` row to a {@link StoredBackfill}. */
export function toBackfill(row: BackfillRow): StoredBackfill {
  return {
    processor: row.processor,
    id: row.backfill_id,
    partitions: Number(row.partitions),
    startedAt: Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}

/** A deleted checkpoint's progress; a count that is no count (a corrupt row) reads as null. */
export function toDeleted(row: DeletedRow): DeletedCheckpoint {
  return { shard: row.shard, completed: countOrNull(row.completed), total: countOrNull(row.total) };
}

function countOrNull(value: unknown): number | null {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : null;
}
