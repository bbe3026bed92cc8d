import { checkpointKey } from "../../core/checkpoint-key.js";
import type {
  BackfillOpen,
  BackfillRecord,
  BackfillStore,
} from "../../core/store/backfill-store.js";
import type { CheckpointKey } from "../../core/types.js";
import type { SqliteDatabase } from "./sqlite-driver.js";
import type { SqliteGuard, SqliteStatements } from "./sqlite-statements.js";

/** The backfills of a `SqliteStore`, in its `backfills` table. */
export class SqliteBackfills implements BackfillStore {
  readonly #database: SqliteDatabase;
  readonly #statements: SqliteStatements;
  readonly #guard: SqliteGuard;

  constructor(database: SqliteDatabase, statements: SqliteStatements, guard: SqliteGuard) {
    this.#database = database;
    this.#statements = statements;
    this.#guard = guard;
  }

  async open(request: BackfillOpen): Promise<BackfillRecord> {
    return this.#guard(() =>
      this.#database
        .transaction((): BackfillRecord => {
          const prior = this.#statements
            .get(
              `SELECT started_at FROM backfills WHERE processor = ? AND backfill_id = ?
               AND finished_at IS NULL AND updated_at >= ?`,
            )
            .get(request.processor, request.id, request.staleBefore) as
            | { started_at: number }
            | undefined;
          const resumed = prior !== undefined && !request.restart;
          const startedAt = resumed ? Number(prior.started_at) : request.now;
          this.#statements
            .get(
              `INSERT INTO backfills (processor, backfill_id, partitions, started_at, updated_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (processor, backfill_id) DO UPDATE SET partitions = excluded.partitions,
               started_at = excluded.started_at, updated_at = excluded.updated_at,
               finished_at = NULL`,
            )
            .run(request.processor, request.id, request.partitions, startedAt, request.now);
          return { processor: request.processor, id: request.id, startedAt, resumed };
        })
        .immediate(),
    );
  }

  async completedSince(processor: string, since: number): Promise<CheckpointKey[]> {
    const rows = this.#guard(
      () =>
        this.#statements
          .get("SELECT partition, shard FROM completions WHERE processor = ? AND completed_at >= ?")
          .all(processor, since) as Array<{ partition: string; shard: string }>,
    );
    return rows.map((row) => checkpointKey(processor, row.partition, row.shard));
  }

  async finish(record: BackfillRecord, now: number): Promise<void> {
    this.#guard(() =>
      this.#statements
        .get(
          `UPDATE backfills SET finished_at = ?, updated_at = ?
           WHERE processor = ? AND backfill_id = ? AND started_at = ?`,
        )
        .run(now, now, record.processor, record.id, record.startedAt),
    );
  }
}
