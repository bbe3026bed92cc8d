import { describeKey, resetCommand } from "../core/checkpoint-key.js";
import { StoreError } from "../core/errors.js";
import type { CheckpointKey, Cursor, RecordedRunStatus } from "../core/types.js";
import type { RunRecord, StoredCheckpoint, StoredFailure } from "./records.js";
import type { CheckpointWrite, LeaseHandle } from "./run-store.js";

/** A `checkpoints` row as SQL returns it (shared by the SQL stores). */
export interface CheckpointRow {
  processor: string;
  partition: string;
  shard: string;
  processor_version: number | null;
  cursor: string | null;
  completed: number | string;
  total: number | string | null;
  state: string | null;
  state_codec: string | null;
  fingerprint: string | null;
  run_id: string | null;
  lease_owner: string | null;
  lease_expires_at: number | string | null;
  fence: number | string;
  attempt: number;
  created_at: number | string;
  updated_at: number | string;
}

/** A `runs` row as SQL returns it. */
export interface RunRow {
  run_id: string;
  processor: string;
  partition: string;
  shard: string;
  status: string;
  started_at: number | string;
  finished_at: number | string | null;
  resumed_from: number | string | null;
  processed: number | string;
  total: number | string | null;
  batches: number;
  checkpoint_ms: number;
  attempt: number;
  reason: string | null;
  error: string | null;
}

/** A `failures` row as SQL returns it. */
export interface FailureRow {
  processor: string;
  partition: string;
  shard: string;
  cursor: string;
  error: string;
  attempts: number | string;
  first_failed_at: number | string;
  last_failed_at: number | string;
  run_id: string;
}

/** Maps a `failures` row to a {@link StoredFailure}. */
export function toFailure(row: FailureRow): StoredFailure {
  return {
    processor: row.processor,
    partition: row.partition,
    shard: row.shard,
    cursor: parseCursor(row),
    error: row.error,
    attempts: Number(row.attempts),
    firstFailedAt: Number(row.first_failed_at),
    lastFailedAt: Number(row.last_failed_at),
    runId: row.run_id,
  };
}

/** A cursor as the SQL stores keep it: JSON text, or NULL for none. */
export function cursorJson(cursor: Cursor | null): string | null {
  return cursor === null ? null : JSON.stringify(cursor);
}

/** Maps a row to the store contract's shape, refusing a cursor that is not valid JSON. */
export function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return {
    processor: row.processor,
    partition: row.partition,
    shard: row.shard,
    processorVersion: row.processor_version,
    cursor: row.cursor === null ? null : parseCursor(row),
    completed: Number(row.completed),
    total: nullableNumber(row.total),
    state: row.state,
    stateCodec: row.state_codec ?? null,
    fingerprint: row.fingerprint,
    runId: row.run_id,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: nullableNumber(row.lease_expires_at),
    fence: Number(row.fence),
    attempt: row.attempt,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** Maps a `runs` row to a {@link RunRecord}. */
export function toRun(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    processor: row.processor,
    partition: row.partition,
    shard: row.shard,
    status: row.status as RecordedRunStatus,
    startedAt: Number(row.started_at),
    finishedAt: nullableNumber(row.finished_at),
    resumedFrom: nullableNumber(row.resumed_from),
    processed: Number(row.processed),
    total: nullableNumber(row.total),
    batches: row.batches,
    checkpointMs: row.checkpoint_ms,
    attempt: row.attempt,
    reason: row.reason,
    error: row.error,
  };
}

function parseCursor(row: CheckpointKey & { cursor: string | null }): Cursor {
  let value: unknown;
  try {
    value = JSON.parse(row.cursor as string);
  } catch {
    value = undefined;
  }
  if (typeof value !== "string" && typeof value !== "number") {
    throw new StoreError(
      "CORRUPT_CHECKPOINT",
      `The checkpoint of ${describeKey(row)} has an unreadable cursor ` +
        `(${JSON.stringify(row.cursor)}). Reset it with \`${resetCommand(row)}\` to start ` +
        "the partition over.",
    );
  }
  return value;
}

function nullableNumber(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}

/** The parameters naming one checkpoint: processor, partition, shard. */
export function keyOf(key: CheckpointKey): unknown[] {
  return [key.processor, key.partition, key.shard];
}

/** The trailing parameters of every fenced statement: processor, partition, shard, owner, fence. */
export function fenceOf(lease: LeaseHandle): unknown[] {
  return [...keyOf(lease), lease.owner, lease.fence];
}

/** The parameters of `commit`; the cursor goes in as JSON so its type survives. */
export function commitValues(write: CheckpointWrite, lease: LeaseHandle): unknown[] {
  return [
    write.processorVersion,
    cursorJson(write.cursor),
    write.completed,
    write.total,
    write.state,
    write.fingerprint,
    write.now + write.leaseTtlMs,
    write.now,
    write.stateCodec,
    ...fenceOf(lease),
  ];
}
