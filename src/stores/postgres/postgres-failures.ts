import type { Cursor } from "../../core/types.js";
import { cursorJson } from "../sql-rows.js";
import type { CheckpointWrite, LeaseHandle } from "../store.js";
import type { PgTx } from "./postgres-tx.js";

/** The failure ledger's statements for the quoted schema `s`. */
export function failureSql(s: string) {
  return {
    upsert: `INSERT INTO ${s}.failures AS f (processor, partition, cursor, error, attempts,
               first_failed_at, last_failed_at, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
             ON CONFLICT (processor, partition, cursor) DO UPDATE SET error = EXCLUDED.error,
               attempts = f.attempts + EXCLUDED.attempts,
               last_failed_at = EXCLUDED.last_failed_at, run_id = EXCLUDED.run_id`,
    list: `SELECT * FROM ${s}.failures
           WHERE ($1::text IS NULL OR processor = $1) AND ($2::text IS NULL OR partition = $2)
           ORDER BY processor, partition, first_failed_at, cursor`,
    clear: `DELETE FROM ${s}.failures
            WHERE processor = $1 AND partition = $2 AND cursor = ANY($3::text[])`,
  };
}

/** Whether a commit carries ledger changes. */
export function hasLedgerChanges(write: CheckpointWrite): boolean {
  return (write.failures?.length ?? 0) > 0 || (write.resolvedFailures?.length ?? 0) > 0;
}

/** Writes a commit's ledger changes through the batch's transaction, before its checkpoint. */
export async function writeLedger(
  tx: PgTx,
  sql: ReturnType<typeof failureSql>,
  lease: LeaseHandle,
  write: CheckpointWrite,
): Promise<void> {
  for (const failure of write.failures ?? []) {
    await tx.query(sql.upsert, [
      lease.processor,
      lease.partition,
      cursorJson(failure.cursor),
      failure.error,
      failure.attempts,
      write.now,
      lease.runId,
    ]);
  }
  const resolved = write.resolvedFailures ?? [];
  if (resolved.length > 0) await tx.query(sql.clear, clearValues(lease, resolved));
}

/** The parameters of `clear` for one key's cursors. */
export function clearValues(
  key: { processor: string; partition: string },
  cursors: readonly Cursor[],
): unknown[] {
  return [key.processor, key.partition, cursors.map((c) => cursorJson(c))];
}
