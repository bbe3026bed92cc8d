import type { FailureFilter, StoredFailure } from "../../core/store/records.js";
import type { CheckpointWrite, LeaseHandle } from "../../core/store/run-store.js";
import type { Cursor } from "../../core/types.js";
import { cursorJson, type FailureRow, keyOf, toFailure } from "../sql-rows.js";
import type { SqliteStatements } from "./sqlite-statements.js";

/** The failure ledger of a SQLite store: entities skipped after every attempt failed. */

/** A commit's ledger changes; runs inside the commit's transaction. */
export function writeFailures(
  statements: SqliteStatements,
  lease: LeaseHandle,
  write: CheckpointWrite,
): void {
  for (const failure of write.failures ?? []) {
    statements
      .get(
        `INSERT INTO failures (processor, partition, shard, cursor, error, attempts,
           first_failed_at, last_failed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (processor, partition, shard, cursor) DO UPDATE SET error = excluded.error,
           attempts = failures.attempts + excluded.attempts,
           last_failed_at = excluded.last_failed_at, run_id = excluded.run_id`,
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
  const remove = statements.get(
    "DELETE FROM failures WHERE processor = ? AND partition = ? AND shard = ? AND cursor = ?",
  );
  for (const cursor of resolved) remove.run(...keyOf(lease), cursorJson(cursor));
}

/** The ledger, filtered, in the contract's order. */
export function listFailures(statements: SqliteStatements, filter: FailureFilter): StoredFailure[] {
  const rows = statements
    .get(
      `SELECT * FROM failures
       WHERE (@processor IS NULL OR processor = @processor)
         AND (@partition IS NULL OR partition = @partition)
         AND (@shard IS NULL OR shard = @shard)
       ORDER BY processor, partition, shard, first_failed_at, cursor`,
    )
    .all({
      processor: filter.processor ?? null,
      partition: filter.partition ?? null,
      shard: filter.shard ?? null,
    }) as FailureRow[];
  return rows.map(toFailure);
}
