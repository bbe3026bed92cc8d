import type {
  CheckpointFilter,
  CheckpointScan,
  FailureFilter,
  RunFilter,
  RunRecord,
  StoredCheckpoint,
  StoredFailure,
} from "../../core/store/records.js";
import type { CheckpointKey } from "../../core/types.js";
import {
  type CheckpointRow,
  keyOf,
  type RunRow,
  scanRows,
  toCheckpoint,
  toRun,
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
}
