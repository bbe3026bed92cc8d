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
  type FailureRow,
  keyOf,
  type RunRow,
  type SplitRow,
  scanRows,
  toCheckpoint,
  toCompletion,
  toFailure,
  toRun,
  toSplit,
} from "../sql-rows.js";
import type { PgResult, PgRow } from "./postgres-pool.js";
import { storeNow } from "./postgres-sql.js";

/** Runs one statement of the store (schema first, errors translated). */
export type PgQuery = <R extends PgRow>(text: string, values: unknown[]) => Promise<PgResult<R>>;

/**
 * The read side of a PostgreSQL store, and the operators' delete: one statement per method,
 * for the quoted schema `s`.
 */
export class PostgresReports {
  readonly #schema: string;
  readonly #query: PgQuery;

  /** `schema` is the quoted schema name. */
  constructor(schema: string, query: PgQuery) {
    this.#schema = schema;
    this.#query = query;
  }

  async listCheckpoints(filter: CheckpointFilter): Promise<StoredCheckpoint[]> {
    return (await this.#checkpointRows(filter)).map(toCheckpoint);
  }

  async scanCheckpoints(filter: CheckpointFilter): Promise<CheckpointScan> {
    return scanRows(await this.#checkpointRows(filter));
  }

  async #checkpointRows(filter: CheckpointFilter): Promise<CheckpointRow[]> {
    const result = await this.#query<CheckpointRow>(
      `SELECT * FROM ${this.#schema}.checkpoints
       WHERE ($1::text IS NULL OR processor = $1)
       ORDER BY updated_at DESC, processor COLLATE "C", partition COLLATE "C", shard COLLATE "C"`,
      [filter.processor ?? null],
    );
    return result.rows;
  }

  async getCheckpoint(key: CheckpointKey): Promise<StoredCheckpoint | null> {
    const result = await this.#query<CheckpointRow>(
      `SELECT * FROM ${this.#schema}.checkpoints WHERE processor = $1 AND partition = $2 AND shard = $3`,
      keyOf(key),
    );
    const row = result.rows[0];
    return row ? toCheckpoint(row) : null;
  }

  async listRuns(filter: RunFilter): Promise<RunRecord[]> {
    // run_id breaks ties between runs started in the same millisecond, so the order is stable.
    const result = await this.#query<RunRow>(
      `SELECT * FROM ${this.#schema}.runs
       WHERE ($1::text IS NULL OR processor = $1)
         AND ($2::text IS NULL OR partition = $2)
         AND ($3::text IS NULL OR shard = $3)
         AND ($4::text IS NULL OR status = $4)
         AND ($5::bigint IS NULL OR started_at >= $5)
         AND ($7::text IS NULL OR run_id = $7)
       ORDER BY started_at DESC, run_id COLLATE "C" DESC
       LIMIT $6`,
      [
        filter.processor ?? null,
        filter.partition ?? null,
        filter.shard ?? null,
        filter.status ?? null,
        filter.since ?? null,
        filter.limit ?? null,
        filter.runId ?? null,
      ],
    );
    return result.rows.map(toRun);
  }

  async listCurrentRuns(filter: CheckpointFilter): Promise<RunRecord[]> {
    const result = await this.#query<RunRow>(
      `SELECT r.* FROM ${this.#schema}.runs r JOIN ${this.#schema}.checkpoints c ON c.run_id = r.run_id
       WHERE ($1::text IS NULL OR c.processor = $1)
       ORDER BY r.started_at DESC, r.run_id COLLATE "C" DESC`,
      [filter.processor ?? null],
    );
    return result.rows.map(toRun);
  }

  async listFailures(filter: FailureFilter): Promise<StoredFailure[]> {
    const result = await this.#query<FailureRow>(
      `SELECT * FROM ${this.#schema}.failures
       WHERE ($1::text IS NULL OR processor = $1) AND ($2::text IS NULL OR partition = $2)
         AND ($3::text IS NULL OR shard = $3)
         AND ($4::text = 'all' OR (resolved_at IS NULL) = ($4::text = 'open'))
       ORDER BY processor COLLATE "C", partition COLLATE "C", shard COLLATE "C",
         first_failed_at, cursor COLLATE "C"`,
      [
        filter.processor ?? null,
        filter.partition ?? null,
        filter.shard ?? null,
        filter.status ?? "open",
      ],
    );
    return result.rows.map(toFailure);
  }

  async listCompletions(filter: CheckpointFilter): Promise<UnitCompletion[]> {
    const result = await this.#query<CompletionRow>(
      `SELECT * FROM ${this.#schema}.completions m
       WHERE ($1::text IS NULL OR processor = $1)
         AND EXISTS (SELECT 1 FROM ${this.#schema}.checkpoints c
                     WHERE c.processor = m.processor AND c.partition = m.partition)
       ORDER BY processor COLLATE "C", partition COLLATE "C", shard COLLATE "C"`,
      [filter.processor ?? null],
    );
    return result.rows.map(toCompletion);
  }

  async listBackfills(filter: CheckpointFilter): Promise<StoredBackfill[]> {
    const result = await this.#query<BackfillRow>(
      `SELECT * FROM ${this.#schema}.backfills b WHERE ($1::text IS NULL OR processor = $1)
         AND (finished_at IS NULL OR finished_at >= (SELECT min(created_at)
                                                     FROM ${this.#schema}.checkpoints c
                                                     WHERE c.processor = b.processor))
       ORDER BY started_at DESC, backfill_id COLLATE "C"`,
      [filter.processor ?? null],
    );
    return result.rows.map(toBackfill);
  }

  async listSplits(filter: SplitFilter): Promise<SplitRecord[]> {
    const result = await this.#query<SplitRow>(
      `SELECT * FROM ${this.#schema}.splits
       WHERE ($1::text IS NULL OR processor = $1) AND ($2::text IS NULL OR partition = $2)
         AND ($3::bigint IS NULL OR split_at >= $3)
       ORDER BY split_at DESC, processor COLLATE "C", partition COLLATE "C",
         new_shard COLLATE "C"
       LIMIT $4`,
      [
        filter.processor ?? null,
        filter.partition ?? null,
        filter.since ?? null,
        filter.limit ?? null,
      ],
    );
    return result.rows.map(toSplit);
  }

  /**
   * A partition's reset in one statement; `at` null judges leases by the server's clock. A
   * checkpoint leased after the check but before its delete is kept, as `deleteCheckpoint`
   * keeps it.
   */
  async resetPartition(
    processor: string,
    partition: string,
    at: number | null,
  ): Promise<PartitionReset> {
    const s = this.#schema;
    const free = `(lease_owner IS NULL OR lease_expires_at <= ${storeNow(3)})`;
    const result = await this.#query<DeletedRow & { kind: string; owner: string | null }>(
      `WITH held AS (
         SELECT shard, lease_owner FROM ${s}.checkpoints
         WHERE processor = $1 AND partition = $2 AND NOT ${free}
         ORDER BY shard COLLATE "C" LIMIT 1
       ), gone AS (
         DELETE FROM ${s}.checkpoints WHERE processor = $1 AND partition = $2 AND ${free}
           AND NOT EXISTS (SELECT 1 FROM held)
         RETURNING shard, completed, total
       ), artifacts AS (
         DELETE FROM ${s}.artifacts WHERE processor = $1 AND partition = $2
           AND shard IN (SELECT shard FROM gone)
       ), blobs AS (
         DELETE FROM ${s}.artifact_blobs WHERE processor = $1 AND partition = $2
           AND shard IN (SELECT shard FROM gone)
       ), forgotten AS (
         DELETE FROM ${s}.completions WHERE processor = $1 AND partition = $2
           AND NOT EXISTS (SELECT 1 FROM held)
         RETURNING shard
       )
       SELECT 'held' AS kind, shard, lease_owner AS owner, NULL::bigint AS completed,
         NULL::bigint AS total FROM held
       UNION ALL SELECT 'checkpoint', shard, NULL, completed, total FROM gone
       UNION ALL SELECT 'completion', shard, NULL, NULL, NULL FROM forgotten`,
      [processor, partition, at],
    );
    const held = result.rows.find((r) => r.kind === "held");
    if (held) return { outcome: "leased", shard: held.shard, owner: held.owner ?? "" };
    const rows = (kind: string) => result.rows.filter((r) => r.kind === kind);
    return resetDone(
      rows("checkpoint").map(toDeleted),
      rows("completion").map((r) => r.shard),
    );
  }

  /**
   * Deletes a checkpoint; with `unlessLeased`, not one whose lease is live at `at`, or, when
   * `at` is null (the server's clock), live now by the server's clock.
   */
  async deleteCheckpoint(
    key: CheckpointKey,
    unlessLeased: boolean,
    at: number | null,
  ): Promise<boolean> {
    const result = await this.#query(
      `DELETE FROM ${this.#schema}.checkpoints WHERE processor = $1 AND partition = $2 AND shard = $3
         AND ($4::boolean IS NOT TRUE OR lease_owner IS NULL
              OR lease_expires_at <= ${storeNow(5)})`,
      [...keyOf(key), unlessLeased, at],
    );
    return (result.rowCount ?? 0) > 0;
  }
}
