import { FencedError } from "../../core/errors.js";
import type { CheckpointStore } from "../../core/store/checkpoint-store.js";
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
import type {
  AcquireRequest,
  AcquireResult,
  BatchScope,
  CallBound,
  CheckpointWrite,
  LeaseHandle,
  ReadBack,
} from "../../core/store/run-store.js";
import { abandonedRunError, acquiredLease, fencedMessage } from "../../core/store/run-store.js";
import type { CheckpointKey } from "../../core/types.js";
import {
  CommitGroups,
  GROUP_COMMIT_OFF,
  type GroupCommitStats,
  HeldLeases,
} from "../group-commit.js";
import {
  type CheckpointRow,
  type CompletionRow,
  commitValues,
  cursorJson,
  fenceOf,
  keyOf,
  toCheckpoint,
  toUnitDone,
} from "../sql-rows.js";
import { closedStoreError } from "../store-errors.js";
import { SqliteArtifacts } from "./sqlite-artifacts.js";
import { SqliteBackfills } from "./sqlite-backfills.js";
import { withinBound } from "./sqlite-bound.js";
import type { SqliteDatabase, SqliteStatement, SqliteTransaction } from "./sqlite-driver.js";
import { translateSqliteError } from "./sqlite-errors.js";
import { plainCommit, type SqliteWork, sqliteGroupFlush } from "./sqlite-group.js";
import { openCursors, writeFailures } from "./sqlite-ledger.js";
import { openSqliteDatabase } from "./sqlite-open.js";
import { SqliteQuotas } from "./sqlite-quotas.js";
import { SqliteReports } from "./sqlite-reports.js";
import { SqliteStatements } from "./sqlite-statements.js";
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
   * How long a write waits for another process holding the file's write lock. The wait holds
   * the whole process (better-sqlite3 is synchronous): a signal that arrives during it is seen
   * when it ends. Near a run's end a write waits no longer than the run has left.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * Create the file (and its folder) and the schema, or migrate an older one. With `false`
   * the store must exist with a current schema, or opening fails with `STORE_NOT_FOUND` and
   * nothing is created: what commands that only look at a store use.
   * @default true
   */
  create?: boolean;
  /**
   * Open for reading only: nothing is created, migrated or written (`create` is false).
   * The reports (`status`, `runs`, …) need nothing more.
   * @default false
   */
  readOnly?: boolean;
  /**
   * Write the checkpoint commits of runs sharing this store that are ready at the same
   * moment in one transaction (one fsync), each in its own savepoint. A lone run's commit is
   * written at once either way; `false` writes every commit alone.
   * @default true
   */
  groupCommit?: boolean;
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
  /** Backfills begun and finished, for `runPartitions` and `waymark run`. */
  readonly backfills: SqliteBackfills;
  /** Shared rate limits (`quota`), for every process using this file. */
  readonly quotas: SqliteQuotas;
  readonly #statements: SqliteStatements;
  readonly #reports: SqliteReports;
  // Built once: wrapping a fresh function with `database.transaction` on every commit costs
  // about as much as the write itself.
  readonly #commitBatch: SqliteTransaction<
    (lease: LeaseHandle, write: CheckpointWrite, tx: SqliteTx) => void
  >;
  // Built once too: a run takes one lease and writes one completion, and short partitions
  // are many.
  readonly #takeLease: SqliteTransaction<(request: AcquireRequest) => AcquireResult>;
  readonly #complete: SqliteTransaction<(write: () => void) => void>;
  readonly #groups: CommitGroups<SqliteWork> | null;
  readonly #held = new HeldLeases();
  readonly #busyTimeoutMs: number;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    const readOnly = options.readOnly ?? false;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.database = openSqliteDatabase(path, {
      synchronous: options.synchronous ?? "FULL",
      busyTimeoutMs: this.#busyTimeoutMs,
      create: !readOnly && (options.create ?? true),
      readOnly,
    });
    this.#statements = new SqliteStatements(this.database);
    this.#reports = new SqliteReports(this.#statements);
    this.artifacts = new SqliteArtifacts(this.database, this.#statements, (work, bound) =>
      this.#guard(work, bound),
    );
    this.backfills = new SqliteBackfills(
      this.database,
      this.#statements,
      (work, bound) => this.#guard(work, bound),
      (key) => this.artifacts.clearSync(key),
    );
    this.quotas = new SqliteQuotas(
      this.database,
      this.#statements,
      (work) => this.#guard(work),
      options.synchronous ?? "FULL",
    );
    this.#commitBatch = this.database.transaction((lease, write, tx) =>
      this.#writeBatch(lease, write, tx),
    );
    this.#takeLease = this.database.transaction((request) => this.#writeLease(request));
    this.#complete = this.database.transaction((write) => write());
    this.#groups =
      options.groupCommit === false
        ? null
        : new CommitGroups(
            sqliteGroupFlush(this.database, (work, bound) => this.#guard(work, bound), path),
            () => this.#held.size,
          );
  }

  /** What group commit did so far: transactions that held several runs' writes. */
  get groupCommit(): GroupCommitStats {
    return this.#groups?.stats ?? GROUP_COMMIT_OFF;
  }

  /**
   * The groups to hand a write to when another run could join it (batch commits,
   * completions, history rows); null when this run is alone and writes at once, as without
   * group commit.
   */
  #groupsNow(): CommitGroups<SqliteWork> | null {
    return this.#groups?.alone() === false ? this.#groups : null;
  }

  async acquire(request: AcquireRequest, bound?: CallBound): Promise<AcquireResult> {
    const result = this.#guard(() => this.#takeLease.immediate(request), bound);
    if (result.acquired) this.#held.add(result.lease);
    return result;
  }

  /** Takes the lease if it is free; run inside `#takeLease`'s transaction. */
  #writeLease(request: AcquireRequest): AcquireResult {
    if (request.completedSince !== undefined) {
      // Decided under the same lock as the lease: done for this backfill is done.
      const done = this.#sql(
        `SELECT * FROM completions
         WHERE processor = ? AND partition = ? AND shard = ? AND completed_at >= ?`,
      ).get(...keyOf(request), request.completedSince) as CompletionRow | undefined;
      if (done) return { acquired: false, completed: toUnitDone(done) };
    }
    const existing = this.#get(request);
    if (!existing && request.mustExist) return { acquired: false, absent: true };
    // A corrupt row is refused before anything is written, the lease included.
    if (existing) toCheckpoint(existing);
    const expiresAt = Number(existing?.lease_expires_at ?? 0);
    if (existing?.lease_owner && expiresAt > request.now) {
      return { acquired: false, holder: { owner: existing.lease_owner, expiresAt } };
    }
    const unit = request.unit;
    this.#sql(
      `INSERT INTO checkpoints (processor, partition, shard, run_id, lease_owner,
               lease_expires_at, fence, attempt, created_at, updated_at, range_from, range_to,
               layout)
             VALUES (@processor, @partition, @shard, @runId, @owner, @expiresAt, 1, @attempts,
               @now, @now, @rangeFrom, @rangeTo, @layout)
             ON CONFLICT (processor, partition, shard) DO UPDATE SET
               run_id = excluded.run_id, lease_owner = excluded.lease_owner,
               lease_expires_at = excluded.lease_expires_at,
               fence = checkpoints.fence + 1, attempt = checkpoints.attempt + @attempts,
               range_from = IIF(checkpoints.layout IS NULL, excluded.range_from,
                 checkpoints.range_from),
               range_to = IIF(checkpoints.layout IS NULL, excluded.range_to, checkpoints.range_to),
               layout = COALESCE(checkpoints.layout, excluded.layout)`,
    ).run({
      processor: request.processor,
      partition: request.partition,
      shard: request.shard,
      runId: request.runId,
      owner: request.owner,
      expiresAt: request.now + request.leaseTtlMs,
      now: request.now,
      // A redrive resumes nothing: it takes the lease without counting an attempt.
      attempts: request.kind === "redrive" ? 0 : 1,
      // A row from before ranges were recorded takes the claim's range on its first claim.
      rangeFrom: cursorJson(unit?.range.from ?? null),
      rangeTo: cursorJson(unit?.range.to ?? null),
      layout: unit?.layout ?? null,
    });
    if (existing?.run_id) {
      // The run that held it and never recorded an outcome died at its last commit.
      this.#sql(
        `UPDATE runs SET status = 'failed', finished_at = MAX(@updatedAt, started_at),
                 processed = MAX(0, @completed - COALESCE(resumed_from, 0)), error = @error
               WHERE run_id = @deadRunId AND status = 'running'`,
      ).run({
        deadRunId: existing.run_id,
        updatedAt: existing.updated_at,
        completed: existing.completed,
        error: abandonedRunError(request.runId),
      });
    }
    const checkpoint = toCheckpoint(this.#get(request) as CheckpointRow);
    // The lease is free or expired here: an owner still on it never released it.
    const expiredHolder = existing?.lease_owner
      ? { owner: existing.lease_owner, runId: existing.run_id ?? null }
      : null;
    return acquiredLease(request, checkpoint, {
      ledger: openCursors(this.#statements, request),
      expiredHolder,
    });
  }

  async renew(
    lease: LeaseHandle,
    leaseTtlMs: number,
    now: number,
    bound?: CallBound,
  ): Promise<void> {
    return this.#guard(() => {
      const { changes } = this.#sql(RENEW_SQL).run(now + leaseTtlMs, ...fenceOf(lease));
      if (changes === 0) throw new FencedError(fencedMessage(lease));
    }, bound);
  }

  openBatch(lease: LeaseHandle): BatchScope<SqliteTx> {
    return new SqliteBatch(this.#committer, lease);
  }

  /** A batch's commit: alone at once, or handed to the group that other runs join. */
  readonly #committer: Committer = async (lease, write, tx, bound) => {
    const groups = this.#groupsNow();
    if (groups) return groups.commit(new BatchWork(this.#writer, lease, write, tx, bound));
    this.#guard(() => this.#commitBatch.immediate(lease, write, tx), bound);
  };

  readonly #writer: Writer = (lease, write, tx) => this.#writeBatch(lease, write, tx);

  /** The checkpoint and the batch's staged writes; run inside `#commitBatch`'s transaction. */
  #writeBatch(lease: LeaseHandle, write: CheckpointWrite, tx: SqliteTx): void {
    const { changes } =
      write.kind === "ledger"
        ? this.#sql(RENEW_SQL).run(write.now + write.leaseTtlMs, ...fenceOf(lease))
        : this.#sql(COMMIT_SQL).run(...commitValues(write, lease));
    if (changes === 0) throw new FencedError(fencedMessage(lease));
    if (write.kind === "batch" && write.artifacts?.length) {
      this.artifacts.switchRefs(lease, write.artifacts, write.now);
    }
    const staged = tx.staged;
    for (let index = 0; index < staged.length; index++) {
      const [sql, params] = staged[index] as [string, unknown[]];
      try {
        this.#sql(sql).run(...params);
      } catch (error) {
        throw tx.statementError(error, index, write.batchNumber);
      }
    }
    writeFailures(this.#statements, lease, write);
  }

  async complete(
    lease: LeaseHandle,
    now: number,
    run: RunRecord,
    bound?: CallBound,
  ): Promise<void> {
    const groups = this.#groupsNow();
    this.#held.delete(lease);
    const write = () => this.#writeCompletion(lease, now, run);
    if (groups) return groups.commit({ write, plain: false, bound });
    return this.#guard(() => this.#complete.immediate(write), bound);
  }

  /** The completion's writes; run inside a transaction (or a group's savepoint). */
  #writeCompletion(lease: LeaseHandle, now: number, run: RunRecord): void {
    const done = this.#sql(
      `DELETE FROM checkpoints WHERE ${FENCED}
       RETURNING range_from, range_to, layout, completed, total`,
    ).get(...fenceOf(lease)) as
      | Pick<CompletionRow, "range_from" | "range_to" | "layout" | "completed" | "total">
      | undefined;
    if (!done) throw new FencedError(fencedMessage(lease));
    this.#sql(
      `INSERT INTO completions (processor, partition, shard, completed_at, run_id, range_from,
         range_to, layout, completed, total)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (processor, partition, shard) DO UPDATE SET
         completed_at = excluded.completed_at, run_id = excluded.run_id,
         range_from = excluded.range_from, range_to = excluded.range_to,
         layout = excluded.layout, completed = excluded.completed, total = excluded.total`,
    ).run(
      ...keyOf(lease),
      now,
      lease.runId,
      done.range_from,
      done.range_to,
      done.layout,
      done.completed,
      done.total,
    );
    this.#writeRun(run);
    this.artifacts.clearSync(lease);
  }

  async readBack(key: CheckpointKey, bound?: CallBound): Promise<ReadBack> {
    return this.#guard(() => {
      const row = this.#get(key);
      const completion = this.#sql(
        "SELECT run_id FROM completions WHERE processor = ? AND partition = ? AND shard = ?",
      ).get(...keyOf(key)) as { run_id: string | null } | undefined;
      return {
        checkpoint: row ? toCheckpoint(row) : null,
        completedBy: completion?.run_id ?? null,
      };
    }, bound);
  }

  async release(
    lease: LeaseHandle,
    _now: number,
    options: { discardEmpty?: boolean } = {},
    bound?: CallBound,
  ): Promise<void> {
    this.#held.delete(lease);
    return this.#guard(() => {
      if (options.discardEmpty) {
        this.database
          .transaction(() => {
            const { changes } = this.#sql(
              `DELETE FROM checkpoints WHERE ${FENCED} AND cursor IS NULL`,
            ).run(...fenceOf(lease));
            if (changes > 0) this.artifacts.clearSync(lease);
          })
          .immediate();
      }
      this.#sql(
        `UPDATE checkpoints SET lease_owner = NULL, lease_expires_at = NULL WHERE ${FENCED}`,
      ).run(...fenceOf(lease));
    }, bound);
  }

  async recordRun(run: RunRecord, bound?: CallBound): Promise<void> {
    const groups = this.#groupsNow();
    if (groups) return groups.commit({ write: () => this.#writeRun(run), plain: true, bound });
    return this.#guard(() => this.#writeRun(run), bound);
  }

  async lastCompletedAt(key: CheckpointKey): Promise<number | null> {
    return this.#guard(() => {
      const row = this.#sql(
        "SELECT completed_at FROM completions WHERE processor = ? AND partition = ? AND shard = ?",
      ).get(...keyOf(key)) as { completed_at: number } | undefined;
      return row?.completed_at ?? null;
    });
  }

  async listFailures(filter: FailureFilter = {}): Promise<StoredFailure[]> {
    return this.#guard(() => {
      return this.#reports.listFailures(filter);
    });
  }

  async listCheckpoints(filter: CheckpointFilter = {}): Promise<StoredCheckpoint[]> {
    return this.#guard(() => {
      return this.#reports.listCheckpoints(filter);
    });
  }

  async scanCheckpoints(filter: CheckpointFilter = {}): Promise<CheckpointScan> {
    return this.#guard(() => this.#reports.scanCheckpoints(filter));
  }

  async getCheckpoint(key: CheckpointKey): Promise<StoredCheckpoint | null> {
    return this.#guard(() => {
      return this.#reports.getCheckpoint(key);
    });
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.#guard(() => {
      return this.#reports.listRuns(filter);
    });
  }

  async listCurrentRuns(filter: CheckpointFilter = {}): Promise<RunRecord[]> {
    return this.#guard(() => {
      return this.#reports.listCurrentRuns(filter);
    });
  }

  async listCompletions(filter: CheckpointFilter = {}): Promise<UnitCompletion[]> {
    return this.#guard(() => this.#reports.listCompletions(filter));
  }

  async listBackfills(filter: CheckpointFilter = {}): Promise<StoredBackfill[]> {
    return this.#guard(() => this.#reports.listBackfills(filter));
  }

  async listSplits(filter: SplitFilter = {}): Promise<SplitRecord[]> {
    return this.#guard(() => this.#reports.listSplits(filter));
  }

  async resetPartition(processor: string, partition: string, now: number): Promise<PartitionReset> {
    return this.#guard(() =>
      this.database
        .transaction(() =>
          this.#reports.resetPartition(processor, partition, now, (key) =>
            this.artifacts.clearSync(key),
          ),
        )
        .immediate(),
    );
  }

  async deleteCheckpoint(
    key: CheckpointKey,
    options: { unlessLeasedAt?: number } = {},
  ): Promise<boolean> {
    return this.#guard(() => {
      return this.database
        .transaction(() => {
          const { changes } = this.#sql(
            `DELETE FROM checkpoints
             WHERE processor = @processor AND partition = @partition AND shard = @shard
               AND (@at IS NULL OR lease_owner IS NULL OR lease_expires_at <= @at
                    OR typeof(lease_expires_at) NOT IN ('integer', 'real'))`,
          ).run({
            processor: key.processor,
            partition: key.partition,
            shard: key.shard,
            at: options.unlessLeasedAt ?? null,
          });
          if (changes > 0) this.artifacts.clearSync(key);
          return changes > 0;
        })
        .immediate();
    });
  }

  async close(): Promise<void> {
    if (this.database.open) this.database.close();
  }

  /**
   * Every call goes through here: a closed store is `STORE_CLOSED`, and the driver's errors
   * (I/O, full disk, corruption, a lock held too long) become `StoreError`s naming the file.
   * A call with a `bound` waits for another connection's lock no longer than it leaves.
   */
  #guard<T>(work: () => T, bound?: CallBound): T {
    if (!this.database.open) throw closedStoreError(this.path);
    if (bound) return withinBound(this.database, this.#busyTimeoutMs, this.path, bound, work);
    try {
      return work();
    } catch (error) {
      throw translateSqliteError(error, this.path);
    }
  }

  /** Upserts a history row; a `completed` one stays as the completion wrote it. */
  #writeRun(run: RunRecord): void {
    this.#sql(
      `INSERT INTO runs (run_id, processor, partition, shard, status, started_at, finished_at,
         resumed_from, processed, total, batches, checkpoint_ms, attempt, reason, error, kind,
         skipped)
       VALUES (@runId, @processor, @partition, @shard, @status, @startedAt, @finishedAt,
         @resumedFrom, @processed, @total, @batches, @checkpointMs, @attempt, @reason, @error,
         @kind, @skipped)
       ON CONFLICT (run_id) DO UPDATE SET processor = excluded.processor,
         partition = excluded.partition, shard = excluded.shard, status = excluded.status,
         started_at = excluded.started_at, finished_at = excluded.finished_at,
         resumed_from = excluded.resumed_from, processed = excluded.processed,
         total = excluded.total, batches = excluded.batches,
         checkpoint_ms = excluded.checkpoint_ms, attempt = excluded.attempt,
         reason = excluded.reason, error = excluded.error, kind = excluded.kind,
         skipped = excluded.skipped
       WHERE runs.status <> 'completed'`,
    ).run({ ...run, kind: run.kind ?? "run", skipped: run.skipped ?? 0 });
  }

  #get(key: CheckpointKey): CheckpointRow | undefined {
    return this.#sql(
      "SELECT * FROM checkpoints WHERE processor = ? AND partition = ? AND shard = ?",
    ).get(...keyOf(key)) as CheckpointRow | undefined;
  }

  #sql(sql: string): SqliteStatement {
    return this.#statements.get(sql);
  }
}

/** The WHERE of every fenced statement; its parameters are `fenceOf(lease)`. */
const FENCED = "processor = ? AND partition = ? AND shard = ? AND lease_owner = ? AND fence = ?";

// The statements of every commit, built once: a template with `${FENCED}` makes a new string
// on each call, which the statement cache must then hash in full to find it.
const COMMIT_SQL = `UPDATE checkpoints SET processor_version = ?, cursor = ?, completed = ?, total = ?,
    state = ?, fingerprint = ?, lease_expires_at = ?, updated_at = ?, state_codec = ?
  WHERE ${FENCED}`;
const RENEW_SQL = `UPDATE checkpoints SET lease_expires_at = ? WHERE ${FENCED}`;

type Writer = (lease: LeaseHandle, write: CheckpointWrite, tx: SqliteTx) => void;
type Committer = (
  lease: LeaseHandle,
  write: CheckpointWrite,
  tx: SqliteTx,
  bound: CallBound | undefined,
) => Promise<void>;

/**
 * One batch's scope. A class rather than an object of closures: a run opens one per batch, and
 * its methods are then made once, not per batch.
 */
class SqliteBatch implements BatchScope<SqliteTx> {
  readonly tx = new SqliteTx();
  readonly #commit: Committer;
  readonly #lease: LeaseHandle;

  constructor(commit: Committer, lease: LeaseHandle) {
    this.#commit = commit;
    this.#lease = lease;
  }

  commit(write: CheckpointWrite, bound?: CallBound): Promise<void> {
    this.tx.end();
    return this.#commit(this.#lease, write, this.tx, bound);
  }

  async rollback(): Promise<void> {
    this.tx.clear();
  }
}

/** A batch's commit waiting for its group; `write` runs inside the group's transaction. */
class BatchWork implements SqliteWork {
  readonly plain: boolean;
  readonly bound: CallBound | undefined;
  readonly #writer: Writer;
  readonly #lease: LeaseHandle;
  readonly #write: CheckpointWrite;
  readonly #tx: SqliteTx;

  constructor(
    writer: Writer,
    lease: LeaseHandle,
    write: CheckpointWrite,
    tx: SqliteTx,
    bound: CallBound | undefined,
  ) {
    this.plain = plainCommit(write, tx);
    this.bound = bound;
    this.#writer = writer;
    this.#lease = lease;
    this.#write = write;
    this.#tx = tx;
  }

  write(): void {
    this.#writer(this.#lease, this.#write, this.#tx);
  }
}
