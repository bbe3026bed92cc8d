import type { CheckpointWrite, LeaseHandle } from "../../core/store/run-store.js";
import type { Cursor } from "../../core/types.js";
import { cursorJson, keyOf } from "../sql-rows.js";
import type { PgTx } from "./postgres-tx.js";

/** The failure ledger's writes for the quoted schema `s`; they run in a batch's commit. */
export function failureSql(s: string) {
  return {
    upsert: `INSERT INTO ${s}.failures AS f (processor, partition, shard, cursor, error, attempts,
               first_failed_at, last_failed_at, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
             ON CONFLICT (processor, partition, shard, cursor) DO UPDATE SET
               error = EXCLUDED.error, attempts = f.attempts + EXCLUDED.attempts,
               last_failed_at = EXCLUDED.last_failed_at, run_id = EXCLUDED.run_id,
               resolved_at = NULL, resolved_by = NULL`,
    // Resolved entries are kept for the record (`waymark failures --resolved`).
    resolve: `UPDATE ${s}.failures SET resolved_at = $5, resolved_by = $6
              WHERE processor = $1 AND partition = $2 AND shard = $3
                AND cursor = ANY($4::text[]) AND resolved_at IS NULL`,
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
      ...keyOf(lease),
      cursorJson(failure.cursor),
      failure.error,
      failure.attempts,
      write.now,
      lease.runId,
    ]);
  }
  const resolved = write.resolvedFailures ?? [];
  if (resolved.length > 0) await tx.query(sql.resolve, resolveValues(lease, resolved, write.now));
}

/** The parameters of `resolve` for the lease's run resolving `cursors` at `now`. */
function resolveValues(lease: LeaseHandle, cursors: readonly Cursor[], now: number): unknown[] {
  return [...keyOf(lease), cursors.map((c) => cursorJson(c)), now, lease.runId];
}
