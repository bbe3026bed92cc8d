import type {
  CheckpointFilter,
  CheckpointScan,
  FailureFilter,
  PartitionReset,
  RunFilter,
  RunRecord,
  SplitFilter,
  SplitRecord,
  StoredBackfill,
  StoredCheckpoint,
  StoredFailure,
  UnitCompletion,
} from "../../core/store/records.js";
import type { CheckpointKey } from "../../core/types.js";
import { resetDone } from "../partition-reset.js";
import { type BackfillRow, type DeletedRow, toBackfill, toDeleted } from "../report-rows.js";
import {
  type CheckpointRow,
  type CompletionRow,
  keyOf,
  type RunRow,
  type SplitRow,
  scanRows,
  toCheckpoint,
  toCompletion,
  toRun,
  toSplit,
} from "../sql-rows.js";
import { listFailures } from "./sqlite-ledger.js";
import type { SqliteStatements } from "./sqlite-statements.js";

/** The read side of a SQLite store: one statement per method. */
export class SqliteReports {
  readonly #statements: SqliteStatements;

  constructor(statements: SqliteStatements) {
    this.#statements = statements;
  }

  listCheckpoints(filter: CheckpointFilter): StoredCheckpoint[] {
    return this.#checkpointRows(filter).map(toCheckpoint);
  }

  scanCheckpoints(filter: CheckpointFilter): CheckpointScan {
    return scanRows(this.#checkpointRows(filter));
  }

  #checkpointRows(filter: CheckpointFilter): CheckpointRow[] {
    return this.#statements
      .get(
        `SELECT * FROM checkpoints WHERE (@processor IS NULL OR processor = @processor)
         ORDER BY updated_at DESC, processor, partition, shard`,
      )
      .all({ processor: filter.processor ?? null }) as CheckpointRow[];
  }

  getCheckpoint(key: CheckpointKey): StoredCheckpoint | null {
    const row = this.#statements
      .get("SELECT * FROM checkpoints WHERE processor = ? AND partition = ? AND shard = ?")
      .get(...keyOf(key)) as CheckpointRow | undefined;
    return row ? toCheckpoint(row) : null;
  }

  listRuns(filter: RunFilter): RunRecord[] {
    const rows = this.#statements
      .get(
        `SELECT * FROM runs
         WHERE (@processor IS NULL OR processor = @processor)
           AND (@partition IS NULL OR partition = @partition)
           AND (@shard IS NULL OR shard = @shard)
           AND (@status IS NULL OR status = @status)
           AND (@since IS NULL OR started_at >= @since)
           AND (@runId IS NULL OR run_id = @runId)
         ORDER BY started_at DESC, run_id DESC LIMIT @limit`,
      )
      .all({
        processor: filter.processor ?? null,
        partition: filter.partition ?? null,
        shard: filter.shard ?? null,
        status: filter.status ?? null,
        since: filter.since ?? null,
        limit: filter.limit ?? -1,
        runId: filter.runId ?? null,
      }) as RunRow[];
    return rows.map(toRun);
  }

  listCurrentRuns(filter: CheckpointFilter): RunRecord[] {
    const rows = this.#statements
      .get(
        `SELECT r.* FROM runs r JOIN checkpoints c ON c.run_id = r.run_id
         WHERE (@processor IS NULL OR c.processor = @processor)
         ORDER BY r.started_at DESC, r.run_id DESC`,
      )
      .all({ processor: filter.processor ?? null }) as RunRow[];
    return rows.map(toRun);
  }

  listFailures(filter: FailureFilter): StoredFailure[] {
    return listFailures(this.#statements, filter);
  }

  listCompletions(filter: CheckpointFilter): UnitCompletion[] {
    const rows = this.#statements
      .get(
        `SELECT * FROM completions m
         WHERE (@processor IS NULL OR processor = @processor)
           AND EXISTS (SELECT 1 FROM checkpoints c
                       WHERE c.processor = m.processor AND c.partition = m.partition)
         ORDER BY processor, partition, shard`,
      )
      .all({ processor: filter.processor ?? null }) as CompletionRow[];
    return rows.map(toCompletion);
  }

  listBackfills(filter: CheckpointFilter): StoredBackfill[] {
    const rows = this.#statements
      .get(
        `SELECT * FROM backfills b WHERE (@processor IS NULL OR processor = @processor)
           AND (finished_at IS NULL OR finished_at >= (SELECT min(created_at) FROM checkpoints c
                                                       WHERE c.processor = b.processor))
         ORDER BY started_at DESC, backfill_id`,
      )
      .all({ processor: filter.processor ?? null }) as BackfillRow[];
    return rows.map(toBackfill);
  }

  listSplits(filter: SplitFilter): SplitRecord[] {
    const rows = this.#statements
      .get(
        `SELECT * FROM splits
         WHERE (@processor IS NULL OR processor = @processor)
           AND (@partition IS NULL OR partition = @partition)
           AND (@since IS NULL OR split_at >= @since)
         ORDER BY split_at DESC, processor, partition, new_shard LIMIT @limit`,
      )
      .all({
        processor: filter.processor ?? null,
        partition: filter.partition ?? null,
        since: filter.since ?? null,
        limit: filter.limit ?? -1,
      }) as SplitRow[];
    return rows.map(toSplit);
  }

  /**
   * A partition's reset; run inside a transaction. `clear` deletes a deleted checkpoint's
   * artifacts in the same transaction.
   */
  resetPartition(
    processor: string,
    partition: string,
    now: number,
    clear: (key: CheckpointKey) => void,
  ): PartitionReset {
    const sql = (text: string) => this.#statements.get(text);
    const held = sql(
      `SELECT shard, lease_owner FROM checkpoints WHERE processor = ? AND partition = ?
         AND lease_owner IS NOT NULL AND lease_expires_at > ?
         AND typeof(lease_expires_at) IN ('integer', 'real') ORDER BY shard LIMIT 1`,
    ).get(processor, partition, now) as { shard: string; lease_owner: string } | undefined;
    if (held) return { outcome: "leased", shard: held.shard, owner: held.lease_owner };
    const deleted = sql(
      `DELETE FROM checkpoints WHERE processor = ? AND partition = ?
       RETURNING shard, completed, total`,
    ).all(processor, partition) as DeletedRow[];
    for (const { shard } of deleted) clear({ processor, partition, shard });
    const forgotten = sql(
      "DELETE FROM completions WHERE processor = ? AND partition = ? RETURNING shard",
    ).all(processor, partition) as Array<{ shard: string }>;
    return resetDone(
      deleted.map(toDeleted),
      forgotten.map((c) => c.shard),
    );
  }
}
