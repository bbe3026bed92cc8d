import { FencedError } from "../../core/errors.js";
import type { CheckpointKey, Cursor } from "../../core/types.js";
import {
  type CheckpointRow,
  commitValues,
  cursorJson,
  type FailureRow,
  fenceOf,
  type RunRow,
  toCheckpoint,
  toFailure,
  toRun,
} from "../sql-rows.js";
import type {
  AcquireRequest,
  AcquireResult,
  BatchScope,
  CheckpointStore,
  CheckpointWrite,
  FailureFilter,
  LeaseHandle,
  RunFilter,
  RunRecord,
  StoredCheckpoint,
  StoredFailure,
} from "../store.js";
import { acquiredLease, fencedMessage } from "../store.js";
import { SqliteArtifacts } from "./sqlite-artifacts.js";
import type { SqliteDatabase, SqliteStatement, SqliteTransaction } from "./sqlite-driver.js";
import { openSqliteDatabase } from "./sqlite-open.js";
import { SqliteTx } from "./sqlite-tx.js";

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * `FULL` makes every checkpoint survive power loss; `NORMAL` (in WAL mode) survives a
   * process crash but may lose the last commits on power loss, for a faster commit.
   * @default "FULL"
   */
  synchronous?: "FULL" | "NORMAL";
  /**
   * How long a write waits for another process holding the file's write lock.
   * @default 5000
   */
  busyTimeoutMs?: number;
}

/**
 * The embedded store: one SQLite file (WAL mode) that several processes on one machine can
 * share. Writes made through `ctx.tx` are staged during the batch and applied inside the
 * checkpoint's transaction, so the file's write lock is never held across your async work.
 *
 * @example
 * const store = new SqliteStore(".waymark/waymark.db");
 * store.database.exec("CREATE TABLE IF NOT EXISTS summaries (id INTEGER PRIMARY KEY, n INTEGER)");
 */
export class SqliteStore implements CheckpointStore<SqliteTx> {
  readonly kind = "sqlite";
  /** The file this store lives in. */
  readonly path: string;
  /**
   * The better-sqlite3 connection, for creating your own tables and reading your results.
   * Write batch effects through `ctx.tx`, not here, to keep them exactly once.
   */
  readonly database: SqliteDatabase;
  /** Blobs beside the checkpoints (`ctx.artifacts`), in this same file. */
  readonly artifacts: SqliteArtifacts;
  readonly #statements = new Map<string, SqliteStatement>();
  // Built once: wrapping a fresh function with `database.transaction` on every commit costs
  // about as much as the write itself.
  readonly #commitBatch: SqliteTransaction<
    (lease: LeaseHandle, write: CheckpointWrite, tx: SqliteTx) => void
  >;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.database = openSqliteDatabase(path, {
      synchronous: options.synchronous ?? "FULL",
      busyTimeoutMs: options.busyTimeoutMs ?? 5000,
    });
    this.artifacts = new SqliteArtifacts(this.database);
    this.#commitBatch = this.database.transaction((lease, write, tx) =>
      this.#writeBatch(lease, write, tx),
    );
  }

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    return this.database
      .transaction((): AcquireResult => {
        const existing = this.#get(request);
        const expiresAt = Number(existing?.lease_expires_at ?? 0);
        if (existing?.lease_owner && expiresAt > request.now) {
          return { acquired: false, holder: { owner: existing.lease_owner, expiresAt } };
        }
        this.#statement(
          `INSERT INTO checkpoints (processor, partition, run_id, lease_owner, lease_expires_at,
                                  fence, attempt, created_at, updated_at)
         VALUES (@processor, @partition, @runId, @owner, @expiresAt, 1, 1, @now, @now)
         ON CONFLICT (processor, partition) DO UPDATE SET
           run_id = excluded.run_id, lease_owner = excluded.lease_owner,
           lease_expires_at = excluded.lease_expires_at,
           fence = checkpoints.fence + 1, attempt = checkpoints.attempt + 1`,
        ).run({
          processor: request.processor,
          partition: request.partition,
          runId: request.runId,
          owner: request.owner,
          expiresAt: request.now + request.leaseTtlMs,
          now: request.now,
        });
        const checkpoint = toCheckpoint(this.#get(request) as CheckpointRow);
        return acquiredLease(request, checkpoint);
      })
      .immediate();
  }

  async renew(lease: LeaseHandle, leaseTtlMs: number, now: number): Promise<void> {
    const { changes } = this.#statement(
      `UPDATE checkpoints SET lease_expires_at = ?
       WHERE processor = ? AND partition = ? AND lease_owner = ? AND fence = ?`,
    ).run(now + leaseTtlMs, ...fenceOf(lease));
    if (changes === 0) throw new FencedError(fencedMessage(lease));
  }

  openBatch(lease: LeaseHandle): BatchScope<SqliteTx> {
    const tx = new SqliteTx();
    return {
      tx,
      commit: async (write: CheckpointWrite) => {
        tx.end();
        this.#commitBatch.immediate(lease, write, tx);
      },
      rollback: async () => tx.clear(),
    };
  }

  /** The checkpoint and the batch's staged writes; run inside `#commitBatch`'s transaction. */
  #writeBatch(lease: LeaseHandle, write: CheckpointWrite, tx: SqliteTx): void {
    const { changes } = this.#statement(
      `UPDATE checkpoints SET processor_version = ?, cursor = ?, completed = ?, total = ?,
         state = ?, fingerprint = ?, lease_expires_at = ?, updated_at = ?
       WHERE processor = ? AND partition = ? AND lease_owner = ? AND fence = ?`,
    ).run(...commitValues(write, lease));
    if (changes === 0) throw new FencedError(fencedMessage(lease));
    if (write.artifacts?.length) this.artifacts.switchRefs(lease, write.artifacts, write.now);
    for (const [sql, params] of tx.staged) this.#statement(sql).run(...params);
    this.#writeFailures(lease, write);
  }

  async complete(lease: LeaseHandle, now: number): Promise<void> {
    this.database
      .transaction(() => {
        const { changes } = this.#statement(
          `DELETE FROM checkpoints
           WHERE processor = ? AND partition = ? AND lease_owner = ? AND fence = ?`,
        ).run(...fenceOf(lease));
        if (changes === 0) throw new FencedError(fencedMessage(lease));
        this.#statement(
          `INSERT INTO completions (processor, partition, completed_at) VALUES (?, ?, ?)
           ON CONFLICT (processor, partition) DO UPDATE SET completed_at = excluded.completed_at`,
        ).run(lease.processor, lease.partition, now);
        this.artifacts.clearSync(lease);
      })
      .immediate();
  }

  async release(lease: LeaseHandle): Promise<void> {
    this.#statement(
      `UPDATE checkpoints SET lease_owner = NULL, lease_expires_at = NULL
       WHERE processor = ? AND partition = ? AND lease_owner = ? AND fence = ?`,
    ).run(...fenceOf(lease));
  }

  async recordRun(run: RunRecord): Promise<void> {
    this.#statement(
      `INSERT OR REPLACE INTO runs (run_id, processor, partition, status, started_at, finished_at,
         resumed_from, processed, total, batches, checkpoint_ms, attempt, reason, error)
       VALUES (@runId, @processor, @partition, @status, @startedAt, @finishedAt, @resumedFrom,
         @processed, @total, @batches, @checkpointMs, @attempt, @reason, @error)`,
    ).run({ ...run });
  }

  async lastCompletedAt(key: CheckpointKey): Promise<number | null> {
    const row = this.#statement(
      "SELECT completed_at FROM completions WHERE processor = ? AND partition = ?",
    ).get(key.processor, key.partition) as { completed_at: number } | undefined;
    return row?.completed_at ?? null;
  }

  async listCheckpoints(filter: { processor?: string } = {}): Promise<StoredCheckpoint[]> {
    const rows = this.#statement(
      `SELECT * FROM checkpoints WHERE (@processor IS NULL OR processor = @processor)
       ORDER BY updated_at DESC, processor, partition`,
    ).all({ processor: filter.processor ?? null }) as CheckpointRow[];
    return rows.map(toCheckpoint);
  }

  async getCheckpoint(key: CheckpointKey): Promise<StoredCheckpoint | null> {
    const row = this.#get(key);
    return row ? toCheckpoint(row) : null;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const rows = this.#statement(
      `SELECT * FROM runs
       WHERE (@processor IS NULL OR processor = @processor)
         AND (@partition IS NULL OR partition = @partition)
         AND (@status IS NULL OR status = @status)
         AND (@since IS NULL OR started_at >= @since)
       ORDER BY started_at DESC, rowid DESC LIMIT @limit`,
    ).all({
      processor: filter.processor ?? null,
      partition: filter.partition ?? null,
      status: filter.status ?? null,
      since: filter.since ?? null,
      limit: filter.limit ?? -1,
    }) as RunRow[];
    return rows.map(toRun);
  }

  async deleteCheckpoint(
    key: CheckpointKey,
    options: { unlessLeasedAt?: number } = {},
  ): Promise<boolean> {
    return this.database
      .transaction(() => {
        const { changes } = this.#statement(
          `DELETE FROM checkpoints WHERE processor = @processor AND partition = @partition
             AND (@at IS NULL OR lease_owner IS NULL OR lease_expires_at <= @at)`,
        ).run({
          processor: key.processor,
          partition: key.partition,
          at: options.unlessLeasedAt ?? null,
        });
        if (changes > 0) this.artifacts.clearSync(key);
        return changes > 0;
      })
      .immediate();
  }

  async listFailures(filter: FailureFilter = {}): Promise<StoredFailure[]> {
    const rows = this.#statement(
      `SELECT * FROM failures
       WHERE (@processor IS NULL OR processor = @processor)
         AND (@partition IS NULL OR partition = @partition)
       ORDER BY processor, partition, first_failed_at, cursor`,
    ).all({
      processor: filter.processor ?? null,
      partition: filter.partition ?? null,
    }) as FailureRow[];
    return rows.map(toFailure);
  }

  async clearFailures(key: CheckpointKey, cursors: readonly Cursor[]): Promise<number> {
    return this.database.transaction(() => this.#clear(key, cursors))();
  }

  /** Ledger writes of one commit; runs inside the commit's transaction. */
  #writeFailures(lease: LeaseHandle, write: CheckpointWrite): void {
    for (const failure of write.failures ?? []) {
      this.#statement(
        `INSERT INTO failures (processor, partition, cursor, error, attempts, first_failed_at,
           last_failed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (processor, partition, cursor) DO UPDATE SET error = excluded.error,
           attempts = failures.attempts + excluded.attempts,
           last_failed_at = excluded.last_failed_at, run_id = excluded.run_id`,
      ).run(
        lease.processor,
        lease.partition,
        cursorJson(failure.cursor),
        failure.error,
        failure.attempts,
        write.now,
        write.now,
        lease.runId,
      );
    }
    const resolved = write.resolvedFailures ?? [];
    if (resolved.length > 0) this.#clear(lease, resolved);
  }

  #clear(key: CheckpointKey, cursors: readonly Cursor[]): number {
    const remove = this.#statement(
      "DELETE FROM failures WHERE processor = ? AND partition = ? AND cursor = ?",
    );
    let cleared = 0;
    for (const c of cursors)
      cleared += remove.run(key.processor, key.partition, cursorJson(c)).changes;
    return cleared;
  }

  async deleteRuns(runIds: readonly string[]): Promise<number> {
    const remove = this.#statement("DELETE FROM runs WHERE run_id = ?");
    return this.database.transaction(() => {
      let deleted = 0;
      for (const id of runIds) deleted += remove.run(id).changes;
      return deleted;
    })();
  }

  async close(): Promise<void> {
    if (this.database.open) this.database.close();
  }

  #get(key: CheckpointKey): CheckpointRow | undefined {
    return this.#statement("SELECT * FROM checkpoints WHERE processor = ? AND partition = ?").get(
      key.processor,
      key.partition,
    ) as CheckpointRow | undefined;
  }

  /** Prepared statements are cached by their text: preparing costs more than running. */
  #statement(sql: string): SqliteStatement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.database.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}
