import type { FailureFilter, StoredFailure } from "../../core/store/records.js";
import type { CheckpointWrite, LeaseHandle } from "../../core/store/run-store.js";
import type { CheckpointKey, Cursor } from "../../core/types.js";
import { cursorJson, type FailureRow, keyOf, ledgerCursors, toFailure } from "../sql-rows.js";
import type { SqliteStatements } from "./sqlite-statements.js";

/** The failure ledger of a SQLite store: entities skipped after every attempt failed. */

/** A commit's ledger changes; runs inside the commit's transaction. */
export function writeFailures(
  statements: SqliteStatements,
  lease: LeaseHandle,
  write: CheckpointWrite,
): void {
  for (const failure of write.failures ?? []) {
    // Failing again opens an entry a later success had resolved.
    statements
      .get(
        `INSERT INTO failures (processor, partition, shard, cursor, error, attempts,
           first_failed_at, last_failed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (processor, partition, shard, cursor) DO UPDATE SET error = excluded.error,
           attempts = failures.attempts + excluded.attempts,
           last_failed_at = excluded.last_failed_at, run_id = excluded.run_id,
           resolved_at = NULL, resolved_by = NULL`,
      )
      .run(
        ...keyOf(lease),
        cursorJson(failure.cursor),
        failure.error,
        failure.attempts,
        write.now,
        write.now,
        lease.runId,
      );
  }
  const resolved: readonly Cursor[] = write.resolvedFailures ?? [];
  if (resolved.length === 0) return;
  const resolve = statements.get(
    `UPDATE failures SET resolved_at = ?, resolved_by = ?
     WHERE processor = ? AND partition = ? AND shard = ? AND cursor = ? AND resolved_at IS NULL`,
  );
  for (const cursor of resolved) {
    resolve.run(write.now, lease.runId, ...keyOf(lease), cursorJson(cursor));
  }
}

/** The cursors of a key's open entries; runs inside `acquire`'s transaction. */
export function openCursors(statements: SqliteStatements, key: CheckpointKey): Cursor[] {
  const rows = statements
    .get(
      `SELECT cursor FROM failures
       WHERE processor = ? AND partition = ? AND shard = ? AND resolved_at IS NULL`,
    )
    .all(...keyOf(key)) as Array<{ cursor: string }>;
  return rows.length === 0
    ? []
    : ledgerCursors(
        key,
        rows.map((row) => row.cursor),
      );
}

/** The ledger, filtered, in the contract's order. */
export function listFailures(statements: SqliteStatements, filter: FailureFilter): StoredFailure[] {
  const rows = statements
    .get(
      `SELECT * FROM failures
       WHERE (@processor IS NULL OR processor = @processor)
         AND (@partition IS NULL OR partition = @partition)
         AND (@shard IS NULL OR shard = @shard)
         AND (@status = 'all' OR (resolved_at IS NULL) = (@status = 'open'))
       ORDER BY processor, partition, shard, first_failed_at, cursor`,
    )
    .all({
      processor: filter.processor ?? null,
      partition: filter.partition ?? null,
      shard: filter.shard ?? null,
      status: filter.status ?? "open",
    }) as FailureRow[];
  return rows.map(toFailure);
}
