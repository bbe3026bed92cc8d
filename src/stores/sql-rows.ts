import { CorruptCheckpointError, describeValue } from "../core/errors.js";
import type {
  CheckpointScan,
  CorruptCheckpoint,
  RunRecord,
  SplitRecord,
  StoredCheckpoint,
  StoredFailure,
  UnitCompletion,
} from "../core/store/records.js";
import type { BatchCommit, LeaseHandle, UnitDone } from "../core/store/run-store.js";
import {
  type CheckpointKey,
  type Cursor,
  isCursor,
  type RecordedRunStatus,
} from "../core/types.js";

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
  range_from?: string | null;
  range_to?: string | null;
  layout?: string | null;
  parent?: string | null;
  split_requested_by?: string | null;
  split_requested_at?: number | string | null;
  split_note?: string | null;
}

/** A `completions` row as SQL returns it. */
export interface CompletionRow {
  processor: string;
  partition: string;
  shard: string;
  completed_at: number | string;
  run_id: string | null;
  range_from: string | null;
  range_to: string | null;
  layout: string | null;
  completed: number | string | null;
  total: number | string | null;
}

/** A `splits` row as SQL returns it. */
export interface SplitRow {
  processor: string;
  partition: string;
  shard: string;
  new_shard: string;
  at_cursor: string;
  requested_by: string | null;
  run_id: string;
  split_at: number | string;
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
  kind: string;
  skipped: number | string;
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
  resolved_at: number | string | null;
  resolved_by: string | null;
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
    resolvedAt: nullableNumber(row.resolved_at),
    resolvedBy: row.resolved_by,
  };
}

/** The cursors of a key's open ledger entries, as `acquire` reads them with the lease. */
export function ledgerCursors(key: CheckpointKey, cursors: readonly string[]): Cursor[] {
  return cursors.map((cursor) => parseCursor({ ...key, cursor }));
}

/** A cursor as the SQL stores keep it: JSON text, or NULL for none. */
export function cursorJson(cursor: Cursor | null): string | null {
  return cursor === null ? null : JSON.stringify(cursor);
}

/**
 * Maps a row to the store contract's shape, checking every field first: a row no run could
 * have written (a cursor that is not a JSON string or number, or none with entities
 * completed; a count that is negative, fractional or not a number; a version, fence or time
 * that is not an integer; text columns that hold something else) is refused with a
 * {@link CorruptCheckpointError} naming the field and its value, before anything acts on it.
 */
export function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  const check = new RowCheck(row);
  const completed = check.count("completed", row.completed);
  const cursor = row.cursor === null ? null : parseCursor(row);
  if (cursor === null && completed > 0) {
    throw corruptField(
      row,
      "cursor",
      null,
      `there is no cursor, yet ${completed} entities are recorded as completed`,
    );
  }
  return {
    processor: row.processor,
    partition: row.partition,
    shard: row.shard,
    processorVersion: check.nullable("processor_version", row.processor_version, 1),
    cursor,
    completed,
    total: check.nullable("total", row.total, 0),
    state: check.text("state", row.state),
    stateCodec: check.text("state_codec", row.state_codec ?? null),
    fingerprint: check.text("fingerprint", row.fingerprint),
    runId: check.text("run_id", row.run_id),
    leaseOwner: check.text("lease_owner", row.lease_owner),
    leaseExpiresAt: check.nullable("lease_expires_at", row.lease_expires_at, 0),
    fence: check.count("fence", row.fence),
    attempt: check.count("attempt", row.attempt),
    createdAt: check.count("created_at", row.created_at),
    updatedAt: check.count("updated_at", row.updated_at),
    // Rows from before ranges were recorded have no layout: their range is unknown.
    range:
      row.layout === null || row.layout === undefined
        ? null
        : {
            from: check.bound("range_from", row.range_from ?? null),
            to: check.bound("range_to", row.range_to ?? null),
          },
    layout: check.text("layout", row.layout ?? null),
    parent: check.text("parent", row.parent ?? null),
    splitRequest:
      typeof row.split_requested_by === "string"
        ? {
            by: row.split_requested_by,
            at: check.count("split_requested_at", row.split_requested_at ?? 0),
          }
        : null,
    splitNote: check.text("split_note", row.split_note ?? null),
  };
}

/** Maps a `completions` row to a {@link UnitCompletion}. */
export function toCompletion(row: CompletionRow): UnitCompletion {
  return {
    processor: row.processor,
    partition: row.partition,
    shard: row.shard,
    completedAt: Number(row.completed_at),
    runId: row.run_id,
    range:
      row.layout === null ? null : { from: boundOf(row.range_from), to: boundOf(row.range_to) },
    layout: row.layout,
    completed: row.completed === null ? null : Number(row.completed),
    total: row.total === null ? null : Number(row.total),
  };
}

/** A completion as a claim finds it, from the columns of its `completions` row. */
export function toUnitDone(
  row: Pick<CompletionRow, "completed_at" | "run_id" | "layout" | "range_from" | "range_to">,
): UnitDone {
  return {
    at: Number(row.completed_at),
    runId: row.run_id,
    layout: row.layout,
    range:
      row.layout === null ? null : { from: boundOf(row.range_from), to: boundOf(row.range_to) },
  };
}

/** Maps a `splits` row to a {@link SplitRecord}. */
export function toSplit(row: SplitRow): SplitRecord {
  return {
    processor: row.processor,
    partition: row.partition,
    shard: row.shard,
    newShard: row.new_shard,
    at: JSON.parse(row.at_cursor) as Cursor,
    requestedBy: row.requested_by,
    runId: row.run_id,
    splitAt: Number(row.split_at),
  };
}

/** A range bound as stored (JSON text, NULL for open), or undefined when it is not a cursor. */
function boundOf(text: string | null): Cursor | null {
  if (text === null) return null;
  const value: unknown = JSON.parse(text);
  return isCursor(value) ? value : null;
}

/** The columns of a checkpoint row a corrupt value can be found in. */
type CheckpointField = keyof Omit<CheckpointRow, "processor" | "partition" | "shard">;

function corruptField(
  row: CheckpointKey,
  field: CheckpointField,
  value: unknown,
  problem: string,
): CorruptCheckpointError {
  return new CorruptCheckpointError(row, field, value, problem);
}

/** The checks of one row's fields; the first bad one throws. */
class RowCheck {
  readonly #row: CheckpointKey;

  constructor(row: CheckpointKey) {
    this.#row = row;
  }

  /** A safe integer ≥ 0, as a number or (PostgreSQL's BIGINT) as decimal text. */
  count(field: CheckpointField, value: unknown, min = 0): number {
    const number = integerOf(value);
    if (number === undefined || number < min) {
      throw corruptField(this.#row, field, value, `it must be an integer of at least ${min}`);
    }
    return number;
  }

  nullable(field: CheckpointField, value: unknown, min: number): number | null {
    return value === null || value === undefined ? null : this.count(field, value, min);
  }

  /** A range bound: NULL (the partition's start or end) or a cursor as JSON text. */
  bound(field: CheckpointField, value: unknown): Cursor | null {
    if (value === null) return null;
    let parsed: unknown;
    try {
      parsed = typeof value === "string" ? JSON.parse(value) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!isCursor(parsed))
      throw corruptField(this.#row, field, value, "it must be a cursor as JSON");
    return parsed;
  }

  text(field: CheckpointField, value: unknown): string | null {
    if (value === null || value === undefined || typeof value === "string") return value ?? null;
    throw corruptField(this.#row, field, value, "it must be text or NULL");
  }
}

function integerOf(value: unknown): number | undefined {
  if (typeof value === "bigint") value = Number(value);
  if (typeof value === "string") value = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  return typeof value === "number" && Number.isSafeInteger(value) ? value : undefined;
}

/** Maps rows with {@link toCheckpoint}, setting the corrupt ones apart. */
export function scanRows(rows: readonly CheckpointRow[]): CheckpointScan {
  const checkpoints: StoredCheckpoint[] = [];
  const corrupt: CorruptCheckpoint[] = [];
  for (const row of rows) {
    try {
      checkpoints.push(toCheckpoint(row));
    } catch (error) {
      if (!(error instanceof CorruptCheckpointError)) throw error;
      corrupt.push({
        ...error.key,
        field: error.field,
        value: describeValue(error.value),
        message: error.message,
      });
    }
  }
  return { checkpoints, corrupt };
}

/** Maps a `runs` row to a {@link RunRecord}. */
export function toRun(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    kind: row.kind === "redrive" ? "redrive" : "run",
    processor: row.processor,
    partition: row.partition,
    shard: row.shard,
    status: row.status as RecordedRunStatus,
    startedAt: Number(row.started_at),
    finishedAt: nullableNumber(row.finished_at),
    resumedFrom: nullableNumber(row.resumed_from),
    processed: Number(row.processed),
    skipped: Number(row.skipped),
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
    value = typeof row.cursor === "string" ? JSON.parse(row.cursor) : undefined;
  } catch {
    value = undefined;
  }
  if (typeof value !== "string" && typeof value !== "number") {
    throw corruptField(row, "cursor", row.cursor, "it must be a JSON string or number");
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
export function commitValues(write: BatchCommit, lease: LeaseHandle): unknown[] {
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
