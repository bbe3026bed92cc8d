import { checkpointKey } from "../../core/checkpoint-key.js";
import type {
  BackfillOpen,
  BackfillRecord,
  BackfillStore,
} from "../../core/store/backfill-store.js";
import type { CheckpointKey } from "../../core/types.js";
import type { PgResult, PgRow } from "./postgres-pool.js";

type Query = <R extends PgRow>(text: string, values: unknown[]) => Promise<PgResult<R>>;

/** The backfills of a `PostgresStore`, in its `backfills` table; `s` is the quoted schema. */
export class PostgresBackfills implements BackfillStore {
  readonly #query: Query;
  readonly #open: string;
  readonly #completedSince: string;
  readonly #finish: string;

  constructor(s: string, query: Query) {
    this.#query = query;
    // One statement: `prior` sees the row as it was before the upsert changes it.
    this.#open = `WITH prior AS (
        SELECT started_at FROM ${s}.backfills
        WHERE processor = $1 AND backfill_id = $2 AND finished_at IS NULL AND updated_at >= $5
          AND NOT $6::boolean
      ), upserted AS (
        INSERT INTO ${s}.backfills AS b (processor, backfill_id, partitions, started_at, updated_at)
        VALUES ($1, $2, $3, COALESCE((SELECT started_at FROM prior), $4), $4)
        ON CONFLICT (processor, backfill_id) DO UPDATE SET partitions = EXCLUDED.partitions,
          started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at, finished_at = NULL
        RETURNING started_at
      )
      SELECT started_at, EXISTS (SELECT 1 FROM prior) AS resumed FROM upserted`;
    this.#completedSince = `SELECT partition, shard FROM ${s}.completions
      WHERE processor = $1 AND completed_at >= $2`;
    this.#finish = `UPDATE ${s}.backfills SET finished_at = $4, updated_at = $4
      WHERE processor = $1 AND backfill_id = $2 AND started_at = $3`;
  }

  async open(request: BackfillOpen): Promise<BackfillRecord> {
    const result = await this.#query<{ started_at: string; resumed: boolean }>(this.#open, [
      request.processor,
      request.id,
      request.partitions,
      request.now,
      request.staleBefore,
      request.restart,
    ]);
    const row = result.rows[0] as { started_at: string; resumed: boolean };
    return {
      processor: request.processor,
      id: request.id,
      startedAt: Number(row.started_at),
      resumed: row.resumed,
    };
  }

  async completedSince(processor: string, since: number): Promise<CheckpointKey[]> {
    const result = await this.#query<{ partition: string; shard: string }>(this.#completedSince, [
      processor,
      since,
    ]);
    return result.rows.map((row) => checkpointKey(processor, row.partition, row.shard));
  }

  async finish(record: BackfillRecord, now: number): Promise<void> {
    await this.#query(this.#finish, [record.processor, record.id, record.startedAt, now]);
  }
}
