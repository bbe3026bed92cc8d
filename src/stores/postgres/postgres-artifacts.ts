import { randomUUID } from "node:crypto";
import type { ArtifactRef, ArtifactStore } from "../../core/store/artifact-store.js";
import type { CheckpointKey } from "../../core/types.js";
import { keyOf } from "../sql-rows.js";
import type { PgResult, PgRow } from "./postgres-pool.js";

type Query = <R extends PgRow>(text: string, values: unknown[]) => Promise<PgResult<R>>;

/**
 * Artifacts in a PostgreSQL store's schema: BYTEA chunks, one row each. `commitStatement`
 * turns the checkpoint's commit into one statement that also switches the references, so it
 * stays atomic on the batch's own transaction.
 */
export class PostgresArtifacts implements ArtifactStore {
  readonly #schema: string;
  readonly #query: Query;

  /** `schema` is already quoted; `query` is the store's (migrates first, translates errors). */
  constructor(schema: string, query: Query) {
    this.#schema = schema;
    this.#query = query;
  }

  async createBlob(key: CheckpointKey, now: number): Promise<string> {
    const blobId = randomUUID();
    await this.#query(
      `INSERT INTO ${this.#schema}.artifact_blobs (blob_id, processor, partition, shard, created_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [blobId, ...keyOf(key), now],
    );
    return blobId;
  }

  async writeChunk(blobId: string, seq: number, data: Uint8Array): Promise<void> {
    await this.#query(
      `INSERT INTO ${this.#schema}.artifact_chunks (blob_id, seq, data) VALUES ($1, $2, $3)`,
      [blobId, seq, Buffer.from(data.buffer, data.byteOffset, data.byteLength)],
    );
  }

  async sealBlob(
    blobId: string,
    sealed: { hash: string; size: number; chunks: number },
  ): Promise<void> {
    await this.#query(
      `UPDATE ${this.#schema}.artifact_blobs SET hash = $1, size = $2, chunks = $3 WHERE blob_id = $4`,
      [sealed.hash, sealed.size, sealed.chunks, blobId],
    );
  }

  async readChunk(blobId: string, seq: number): Promise<Uint8Array | null> {
    const result = await this.#query<{ data: Uint8Array }>(
      `SELECT data FROM ${this.#schema}.artifact_chunks WHERE blob_id = $1 AND seq = $2`,
      [blobId, seq],
    );
    return result.rows[0]?.data ?? null;
  }

  async listArtifacts(key: CheckpointKey): Promise<ArtifactRef[]> {
    const result = await this.#query<{
      name: string;
      blob_id: string;
      hash: string;
      size: string | number;
      chunks: number;
    }>(
      `SELECT name, blob_id, hash, size, chunks FROM ${this.#schema}.artifacts
       WHERE processor = $1 AND partition = $2 AND shard = $3 ORDER BY name COLLATE "C"`,
      keyOf(key),
    );
    return result.rows.map((r) => ({
      name: r.name,
      blobId: r.blob_id,
      hash: r.hash,
      size: Number(r.size),
      chunks: r.chunks,
    }));
  }

  async deleteBlob(blobId: string): Promise<void> {
    await this.#query(
      `DELETE FROM ${this.#schema}.artifact_blobs b WHERE blob_id = $1
         AND NOT EXISTS (SELECT 1 FROM ${this.#schema}.artifacts a WHERE a.blob_id = b.blob_id)`,
      [blobId],
    );
  }

  async collectGarbage(key: CheckpointKey): Promise<number> {
    const result = await this.#query(
      `DELETE FROM ${this.#schema}.artifact_blobs b
       WHERE b.processor = $1 AND b.partition = $2 AND b.shard = $3
         AND NOT EXISTS (SELECT 1 FROM ${this.#schema}.artifacts a WHERE a.blob_id = b.blob_id)`,
      keyOf(key),
    );
    return result.rowCount ?? 0;
  }

  async clearArtifacts(key: CheckpointKey): Promise<void> {
    await this.#query(
      `WITH gone AS (
         DELETE FROM ${this.#schema}.artifacts WHERE processor = $1 AND partition = $2 AND shard = $3
       )
       DELETE FROM ${this.#schema}.artifact_blobs WHERE processor = $1 AND partition = $2 AND shard = $3`,
      keyOf(key),
    );
  }

  /**
   * The checkpoint commit `update` (fenced, parameters `values`) extended to switch `refs`
   * in the same statement. It returns a row only when the fenced update matched, as the
   * plain commit's row count does; a blob that vanished fails the statement (foreign key).
   */
  commitStatement(
    update: string,
    values: unknown[],
    refs: readonly ArtifactRef[],
    now: number,
  ): [string, unknown[]] {
    const n = values.length;
    const text = `WITH cp AS (${update} RETURNING processor, partition, shard),
      refs AS (
        INSERT INTO ${this.#schema}.artifacts
          (processor, partition, shard, name, blob_id, hash, size, chunks, created_at)
        SELECT cp.processor, cp.partition, cp.shard, r.name, r.blob_id, r.hash, r.size, r.chunks, $${n + 6}
        FROM cp CROSS JOIN unnest($${n + 1}::text[], $${n + 2}::text[], $${n + 3}::text[],
                                  $${n + 4}::bigint[], $${n + 5}::int[])
                           AS r(name, blob_id, hash, size, chunks)
        ON CONFLICT (processor, partition, shard, name) DO UPDATE SET
          blob_id = EXCLUDED.blob_id, hash = EXCLUDED.hash, size = EXCLUDED.size,
          chunks = EXCLUDED.chunks, created_at = EXCLUDED.created_at
      )
      SELECT 1 FROM cp`;
    return [
      text,
      [
        ...values,
        refs.map((r) => r.name),
        refs.map((r) => r.blobId),
        refs.map((r) => r.hash),
        refs.map((r) => r.size),
        refs.map((r) => r.chunks),
        now,
      ],
    ];
  }
}
