import { randomUUID } from "node:crypto";
import { describeKey } from "../../core/checkpoint-key.js";
import { StoreError } from "../../core/errors.js";
import type { ArtifactRef, ArtifactStore } from "../../core/store/artifact-store.js";
import type { CheckpointKey } from "../../core/types.js";
import { keyOf } from "../sql-rows.js";
import type { SqliteDatabase, SqliteStatement } from "./sqlite-driver.js";
import type { SqliteGuard, SqliteStatements } from "./sqlite-statements.js";

/**
 * Artifacts in a SQLite store's file (tables from migration `artifacts`). The async methods
 * are the {@link ArtifactStore} capability; `switchRefs` and `clearSync` run inside the
 * store's own commit and completion transactions.
 */
export class SqliteArtifacts implements ArtifactStore {
  readonly #db: SqliteDatabase;
  readonly #statements: SqliteStatements;
  readonly #guard: SqliteGuard;

  /** `guard` runs each call, turning the driver's errors into the store's `StoreError`s. */
  constructor(database: SqliteDatabase, statements: SqliteStatements, guard: SqliteGuard) {
    this.#db = database;
    this.#statements = statements;
    this.#guard = guard;
  }

  async createBlob(key: CheckpointKey, now: number): Promise<string> {
    return this.#guard(() => {
      const blobId = randomUUID();
      this.#statement(
        `INSERT INTO artifact_blobs (blob_id, processor, partition, shard, created_at)
         VALUES (?, ?, ?, ?, ?)`,
      ).run(blobId, ...keyOf(key), now);
      return blobId;
    });
  }

  async writeChunk(blobId: string, seq: number, data: Uint8Array): Promise<void> {
    return this.#guard(() => {
      this.#statement("INSERT INTO artifact_chunks (blob_id, seq, data) VALUES (?, ?, ?)").run(
        blobId,
        seq,
        data,
      );
    });
  }

  async sealBlob(
    blobId: string,
    sealed: { hash: string; size: number; chunks: number },
  ): Promise<void> {
    return this.#guard(() => {
      this.#statement(
        "UPDATE artifact_blobs SET hash = ?, size = ?, chunks = ? WHERE blob_id = ?",
      ).run(sealed.hash, sealed.size, sealed.chunks, blobId);
    });
  }

  async readChunk(blobId: string, seq: number): Promise<Uint8Array | null> {
    return this.#guard(() => {
      const row = this.#statement(
        "SELECT data FROM artifact_chunks WHERE blob_id = ? AND seq = ?",
      ).get(blobId, seq) as { data: Uint8Array } | undefined;
      return row?.data ?? null;
    });
  }

  async listArtifacts(key: CheckpointKey): Promise<ArtifactRef[]> {
    return this.#guard(() => {
      const rows = this.#statement(
        `SELECT name, blob_id, hash, size, chunks FROM artifacts
         WHERE processor = ? AND partition = ? AND shard = ? ORDER BY name`,
      ).all(...keyOf(key)) as Array<{
        name: string;
        blob_id: string;
        hash: string;
        size: number;
        chunks: number;
      }>;
      return rows.map((r) => ({
        name: r.name,
        blobId: r.blob_id,
        hash: r.hash,
        size: r.size,
        chunks: r.chunks,
      }));
    });
  }

  async deleteBlob(blobId: string): Promise<void> {
    return this.#guard(() => {
      this.#db
        .transaction(() => {
          const unreferenced = `SELECT blob_id FROM artifact_blobs b WHERE blob_id = ?
             AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.blob_id = b.blob_id)`;
          this.#statement(`DELETE FROM artifact_chunks WHERE blob_id IN (${unreferenced})`).run(
            blobId,
          );
          this.#statement(`DELETE FROM artifact_blobs WHERE blob_id IN (${unreferenced})`).run(
            blobId,
          );
        })
        .immediate();
    });
  }

  async collectGarbage(key: CheckpointKey): Promise<number> {
    return this.#guard(() => {
      return this.#db
        .transaction(() => {
          const unreferenced = `SELECT b.blob_id FROM artifact_blobs b
             WHERE b.processor = ? AND b.partition = ? AND b.shard = ?
               AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.blob_id = b.blob_id)`;
          this.#statement(`DELETE FROM artifact_chunks WHERE blob_id IN (${unreferenced})`).run(
            ...keyOf(key),
          );
          return this.#statement(
            `DELETE FROM artifact_blobs WHERE blob_id IN (${unreferenced})`,
          ).run(...keyOf(key)).changes;
        })
        .immediate();
    });
  }

  async clearArtifacts(key: CheckpointKey): Promise<void> {
    return this.#guard(() => {
      this.#db.transaction(() => this.clearSync(key)).immediate();
    });
  }

  /**
   * Points each name at its new blob, inside the caller's commit transaction. A blob that is
   * missing or unsealed (a garbage collection raced it) fails the whole commit.
   */
  switchRefs(key: CheckpointKey, refs: readonly ArtifactRef[], now: number): void {
    const upsert = this.#statement(
      `INSERT INTO artifacts (processor, partition, shard, name, blob_id, hash, size, chunks,
         created_at)
       SELECT processor, partition, shard, ?, blob_id, hash, size, chunks, ? FROM artifact_blobs
       WHERE blob_id = ? AND processor = ? AND partition = ? AND shard = ? AND hash = ?
       ON CONFLICT (processor, partition, shard, name) DO UPDATE SET
         blob_id = excluded.blob_id, hash = excluded.hash, size = excluded.size,
         chunks = excluded.chunks, created_at = excluded.created_at`,
    );
    for (const ref of refs) {
      const { changes } = upsert.run(ref.name, now, ref.blobId, ...keyOf(key), ref.hash);
      if (changes === 0) {
        throw new StoreError(
          "CORRUPT_CHECKPOINT",
          `The artifact "${ref.name}" of ${describeKey(key)} lost its blob before ` +
            "the commit; nothing of this batch was committed. Run the partition again.",
        );
      }
    }
  }

  /** Deletes every artifact and blob of `key`, inside the caller's transaction. */
  clearSync(key: CheckpointKey): void {
    const args = keyOf(key);
    const where = "processor = ? AND partition = ? AND shard = ?";
    this.#statement(`DELETE FROM artifacts WHERE ${where}`).run(...args);
    this.#statement(
      `DELETE FROM artifact_chunks WHERE blob_id IN (SELECT blob_id FROM artifact_blobs WHERE ${where})`,
    ).run(...args);
    this.#statement(`DELETE FROM artifact_blobs WHERE ${where}`).run(...args);
  }

  #statement(sql: string): SqliteStatement {
    return this.#statements.get(sql);
  }
}
