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
  cursorJson,
  fenceOf,
  keyOf,
  ledgerCursors,
  toCheckpoint,
  toUnitDone,
} from "../sql-rows.js";
import { closedStoreError } from "../store-errors.js";
import { PostgresArtifacts } from "./postgres-artifacts.js";
import { PostgresBackfills } from "./postgres-backfills.js";
import { PgBoundCalls } from "./postgres-bound.js";
import { translatePgError } from "./postgres-errors.js";
import { failureSql, hasLedgerChanges, writeLedger } from "./postgres-failures.js";
import { type PgCommit, pgGroupFlush } from "./postgres-group.js";
import { checkPostgresSchema, migratePostgres, quoteIdentifier } from "./postgres-migrations.js";
import {
  type PostgresCommonOptions,
  type PostgresStoreOptions,
  parsePostgresUrl,
  resolvePostgresOptions,
} from "./postgres-options.js";
import type { PgPool, PgResult, PgRow } from "./postgres-pool.js";
import { PostgresQuotas } from "./postgres-quotas.js";
import { PostgresReports } from "./postgres-reports.js";
import {
  keyLockId,
  type PgStatement,
  pgCommitValues,
  postgresSql,
  runValues,
  type StatementName,
} from "./postgres-sql.js";
import { openPgTransaction, type PgTx } from "./postgres-tx.js";

/**
 * The shared store: checkpoints, leases and run history in PostgreSQL, for many workers on
 * many machines. Leases are fenced in SQL, so a runner whose lease was taken over cannot
 * commit; `ctx.tx` is a connection inside the batch's transaction (exactly once).
 *
 * Open it with {@link PostgresStore.open}, which also creates or migrates its schema. The
 * constructor does not touch the server; the schema is then migrated on first use.
 *
 * @example
 * const store = await PostgresStore.open({ connectionString: process.env.DATABASE_URL! });
 * await store.pool.query("CREATE TABLE IF NOT EXISTS summaries (id INT PRIMARY KEY, points INT)");
 */
export class PostgresStore implements CheckpointStore<PgTx> {
  readonly kind = "postgres";
  /**
   * The connection pool, for creating your own tables and reading your results. Write batch
   * effects through `ctx.tx`, not here, to keep them exactly once.
   */
  readonly pool: PgPool;
  /** The schema waymark's tables live in. */
  readonly schema: string;
  /** Blobs beside the checkpoints (`ctx.artifacts`), in this schema. */
  readonly artifacts: PostgresArtifacts;
  /** Backfills begun and finished, for `runPartitions` and `waymark run`. */
  readonly backfills: PostgresBackfills;
  /** Shared rate limits (`quota`) for every worker on every machine, by the server's clock. */
  readonly quotas: PostgresQuotas;
  readonly #ownsPool: boolean;
  readonly #location: string;
  readonly #clock: "server" | "runner";
  readonly #idleInTransactionTimeoutMs: number | undefined;
  readonly #create: boolean;
  readonly #sql: Record<StatementName, PgStatement>;
  readonly #failureSql: ReturnType<typeof failureSql>;
  readonly #reports: PostgresReports;
  readonly #groups: CommitGroups<PgCommit> | null;
  readonly #held = new HeldLeases();
  /** Calls made within a run's bound: cancelled on the server when the run must end. */
  readonly #calls: PgBoundCalls;
  #migrated: Promise<void> | null = null;
  #ready = false;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    const resolved = resolvePostgresOptions(options);
    this.pool = resolved.pool;
    this.schema = resolved.schema;
    this.#ownsPool = resolved.ownsPool;
    this.#location = resolved.location;
    this.#clock = resolved.clock;
    this.#idleInTransactionTimeoutMs = resolved.idleInTransactionTimeoutMs;
    this.#create = resolved.create;
    this.#calls = new PgBoundCalls(this.pool, this.#location);
    this.#sql = postgresSql(quoteIdentifier(resolved.schema));
    this.#failureSql = failureSql(quoteIdentifier(resolved.schema));
    const query = <R extends PgRow>(text: string, values: unknown[]) =>
      this.#query<R>({ text }, values);
    this.artifacts = new PostgresArtifacts(quoteIdentifier(resolved.schema), query);
    this.#reports = new PostgresReports(quoteIdentifier(resolved.schema), query);
    this.backfills = new PostgresBackfills(
      quoteIdentifier(resolved.schema),
      query,
      (now) => this.#now(now),
      (key) => this.artifacts.clearArtifacts(key),
    );
    this.quotas = new PostgresQuotas(
      quoteIdentifier(resolved.schema),
      (statement, values) => this.#query(statement, values),
      (now) => this.#now(now),
    );
    this.#groups = resolved.groupCommit
      ? new CommitGroups(
          pgGroupFlush(
            (statement, values, bound) => this.#query(statement, values, bound),
            this.#sql.commit,
            this.#sql.commitGroup,
          ),
          () => this.#held.size,
        )
      : null;
  }

  /** What group commit did so far: statements that held several runs' commits. */
  get groupCommit(): GroupCommitStats {
    return this.#groups?.stats ?? GROUP_COMMIT_OFF;
  }

  /**
   * Connects, creates or migrates the schema (once, even with many workers starting at once)
   * and returns the store. Fails with `STORE_UNAVAILABLE` when the server cannot be reached or
   * refuses the login, `STORE_INCOMPATIBLE` when the schema is newer than this waymark.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(options);
    try {
      await store.migrate();
    } catch (error) {
      // Cleanup never replaces the cause.
      await store.close().catch(() => {});
      throw error;
    }
    return store;
  }

  /**
   * Creates or upgrades the schema (with `create: false`, checks that it exists and is
   * current); later calls return the first call's promise.
   */
  migrate(): Promise<void> {
    const prepare = this.#create ? migratePostgres : checkPostgresSchema;
    this.#migrated ??= prepare(this.pool, this.schema, this.#location).then(
      () => {
        this.#ready = true;
      },
      (error: unknown) => {
        this.#migrated = null; // let a later call try again, e.g. once the server is back
        throw translatePgError(error, this.#location);
      },
    );
    return this.#migrated;
  }

  async acquire(request: AcquireRequest, bound?: CallBound): Promise<AcquireResult> {
    const now = this.#now(request.now);
    // A corrupt row is refused before anything is written, the lease included.
    await this.#reports.getCheckpoint(request);
    const result = await this.#keyLocked(
      request,
      (query) => this.#claim(request, now, query),
      bound,
    );
    if (result.acquired) this.#held.add(result.lease);
    return result;
  }

  /** The claim itself, in the transaction that holds the key's lock. */
  async #claim(
    request: AcquireRequest,
    now: number | null,
    query: LockedQuery,
  ): Promise<AcquireResult> {
    const unit = request.unit;
    // A holder may release between the refused upsert and the read; then simply try again.
    for (let attempt = 0; ; attempt++) {
      const claimed = await query<
        Partial<CheckpointRow> & {
          store_now: string;
          done_at: string | null;
          done_by: string | null;
          done_layout: string | null;
          done_from: string | null;
          done_to: string | null;
          existed: boolean;
          expired_owner: string | null;
          expired_run_id: string | null;
          ledger: string[] | null;
        }
      >(this.#sql.acquire, [
        ...keyOf(request),
        request.runId,
        request.owner,
        request.leaseTtlMs,
        now,
        abandonedRunError(request.runId),
        // A redrive resumes nothing: it takes the lease without counting an attempt.
        request.kind === "redrive" ? 0 : 1,
        request.completedSince ?? null,
        request.mustExist ?? false,
        cursorJson(unit?.range.from ?? null),
        cursorJson(unit?.range.to ?? null),
        unit?.layout ?? null,
      ]);
      const row = claimed.rows[0] as (typeof claimed.rows)[number];
      if (row.done_at !== null) {
        const completed = toUnitDone({
          completed_at: row.done_at,
          run_id: row.done_by,
          layout: row.done_layout,
          range_from: row.done_from,
          range_to: row.done_to,
        });
        return { acquired: false, completed };
      }
      if (!row.existed && request.mustExist) return { acquired: false, absent: true };
      if (row.fence !== null && row.fence !== undefined) {
        // The lease is free or expired here: an owner still on it never released it.
        const expired = row.expired_owner
          ? { owner: row.expired_owner, runId: row.expired_run_id }
          : null;
        const checkpoint = toCheckpoint(row as CheckpointRow);
        return acquiredLease(request, checkpoint, {
          storeNow: Number(row.store_now),
          ledger: row.ledger === null ? [] : ledgerCursors(request, row.ledger),
          expiredHolder: expired,
        });
      }
      const held = await query<{
        lease_owner: string | null;
        lease_expires_at: string;
        store_now: string;
      }>(this.#sql.holder, [...keyOf(request), now]);
      const holder = held.rows[0];
      const storeNow = Number(holder?.store_now ?? request.now);
      const live = holder?.lease_owner && Number(holder.lease_expires_at) > storeNow;
      // Bounded: a lease that keeps changing hands this fast is simply busy.
      if (live || attempt >= 2) {
        return {
          acquired: false,
          holder: {
            owner: holder?.lease_owner ?? "(released while asking)",
            expiresAt: Number(holder?.lease_expires_at ?? storeNow),
          },
        };
      }
    }
  }

  async renew(
    lease: LeaseHandle,
    leaseTtlMs: number,
    now: number,
    bound?: CallBound,
  ): Promise<void> {
    const result = await this.#query(
      this.#sql.renew,
      [leaseTtlMs, this.#now(now), ...fenceOf(lease)],
      bound,
    );
    if (result.rowCount === 0) throw new FencedError(fencedMessage(lease));
  }

  openBatch(lease: LeaseHandle): BatchScope<PgTx> {
    if (this.#closed) throw closedStoreError(this.#location);
    const transaction = openPgTransaction(
      this.pool,
      this.#idleInTransactionTimeoutMs,
      this.#location,
      this.#calls,
    );
    return {
      tx: transaction.tx,
      commit: async (write: CheckpointWrite, bound?: CallBound) => {
        // The batch's own statements went without; its commit has the time its run has left.
        transaction.bound = bound;
        // With artifacts the commit grows a CTE whose shape varies, so it is not prepared.
        const [statement, params]: [PgStatement, unknown[]] =
          write.kind === "ledger"
            ? [this.#sql.renew, [write.leaseTtlMs, this.#now(write.now), ...fenceOf(lease)]]
            : write.artifacts?.length
              ? withText(
                  this.artifacts.commitStatement(
                    this.#sql.commit.text,
                    pgCommitValues(write, lease, this.#now(write.now)),
                    write.artifacts,
                    write.now,
                  ),
                )
              : [this.#sql.commit, pgCommitValues(write, lease, this.#now(write.now))];
        let committed: boolean;
        if (hasLedgerChanges(write)) {
          try {
            await writeLedger(transaction.tx, this.#failureSql, lease, write);
          } catch (error) {
            await transaction.rollback();
            throw translatePgError(error, this.#location);
          }
        }
        if (transaction.used) {
          try {
            committed = await transaction.finish({ ...statement, values: params });
          } catch (error) {
            throw translatePgError(error, this.#location);
          }
        } else {
          // Nothing went through ctx.tx: one autocommit statement, one round trip, shared
          // with the other runs' commits of the moment when it is a plain one.
          transaction.seal();
          if (this.#groups && !this.#groups.alone() && statement === this.#sql.commit) {
            return this.#groups.commit({ lease, values: params, bound });
          }
          committed = (await this.#query(statement, params, bound)).rowCount !== 0;
        }
        if (!committed) throw new FencedError(fencedMessage(lease));
      },
      rollback: () => transaction.rollback(),
    };
  }

  async complete(
    lease: LeaseHandle,
    now: number,
    run: RunRecord,
    bound?: CallBound,
  ): Promise<void> {
    this.#held.delete(lease);
    const [runId, , , , ...rest] = runValues(run);
    // Under the key's lock: a claim either sees this completion or is seen by it (fenced).
    const result = await this.#keyLocked(
      lease,
      (query) =>
        query<PgRow>(this.#sql.complete, [...fenceOf(lease), this.#now(now), runId, ...rest]),
      bound,
    );
    if (result.rowCount === 0) throw new FencedError(fencedMessage(lease));
    // A separate statement: if it is lost, a fresh start of the partition clears them anyway.
    await this.artifacts.clearArtifacts(lease);
  }

  async readBack(key: CheckpointKey, bound?: CallBound): Promise<ReadBack> {
    const result = await this.#query<{ checkpoint: CheckpointRow | null; completed_by: string }>(
      this.#sql.readBack,
      keyOf(key),
      bound,
    );
    const row = result.rows[0];
    return {
      checkpoint: row?.checkpoint ? toCheckpoint(row.checkpoint) : null,
      completedBy: row?.completed_by ?? null,
    };
  }

  async release(
    lease: LeaseHandle,
    _now: number,
    options: { discardEmpty?: boolean } = {},
    bound?: CallBound,
  ): Promise<void> {
    this.#held.delete(lease);
    if (options.discardEmpty) {
      const discarded = await this.#query(this.#sql.discardEmpty, fenceOf(lease), bound);
      if ((discarded.rowCount ?? 0) > 0) {
        await this.artifacts.clearArtifacts(lease);
        return;
      }
    }
    await this.#query(this.#sql.release, fenceOf(lease), bound);
  }

  async recordRun(run: RunRecord, bound?: CallBound): Promise<void> {
    await this.#query(this.#sql.recordRun, runValues(run), bound);
  }

  async lastCompletedAt(key: CheckpointKey, bound?: CallBound): Promise<number | null> {
    const result = await this.#query<{ completed_at: string }>(
      this.#sql.lastCompletedAt,
      keyOf(key),
      bound,
    );
    const row = result.rows[0];
    return row ? Number(row.completed_at) : null;
  }

  async listFailures(filter: FailureFilter = {}): Promise<StoredFailure[]> {
    return this.#reports.listFailures(filter);
  }

  async listCheckpoints(filter: CheckpointFilter = {}): Promise<StoredCheckpoint[]> {
    return this.#reports.listCheckpoints(filter);
  }

  async scanCheckpoints(filter: CheckpointFilter = {}): Promise<CheckpointScan> {
    return this.#reports.scanCheckpoints(filter);
  }

  async getCheckpoint(key: CheckpointKey): Promise<StoredCheckpoint | null> {
    return this.#reports.getCheckpoint(key);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.#reports.listRuns(filter);
  }

  async listCurrentRuns(filter: CheckpointFilter = {}): Promise<RunRecord[]> {
    return this.#reports.listCurrentRuns(filter);
  }

  async listCompletions(filter: CheckpointFilter = {}): Promise<UnitCompletion[]> {
    return this.#reports.listCompletions(filter);
  }

  async listBackfills(filter: CheckpointFilter = {}): Promise<StoredBackfill[]> {
    return this.#reports.listBackfills(filter);
  }

  async listSplits(filter: SplitFilter = {}): Promise<SplitRecord[]> {
    return this.#reports.listSplits(filter);
  }

  async resetPartition(processor: string, partition: string, now: number): Promise<PartitionReset> {
    return this.#reports.resetPartition(processor, partition, this.#now(now));
  }

  async deleteCheckpoint(
    key: CheckpointKey,
    options: { unlessLeasedAt?: number } = {},
  ): Promise<boolean> {
    const { unlessLeasedAt } = options;
    const unlessLeased = unlessLeasedAt !== undefined;
    const at = unlessLeased ? this.#now(unlessLeasedAt) : null;
    if (!(await this.#reports.deleteCheckpoint(key, unlessLeased, at))) return false;
    await this.artifacts.clearArtifacts(key);
    return true;
  }

  /**
   * Ends the pool when the store created it; a pool you passed in stays yours to end. A
   * statement of a run that gave up on it (stuck on a lock past the run's end) has its
   * connection closed first, so that ending the pool does not wait for it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#calls.abandonRunning();
    if (this.#ownsPool) await this.pool.end();
  }

  /**
   * Runs `work` in a transaction that first takes the key's transaction-scoped advisory lock:
   * what acquire and complete of one key do is then ordered, and each statement's snapshot
   * includes the other's commit. Three round trips: BEGIN with the lock, the work, COMMIT.
   * A client that failed mid-transaction is dropped, not returned to the pool.
   */
  async #keyLocked<T>(
    key: CheckpointKey,
    work: (query: LockedQuery) => Promise<T>,
    bound: CallBound | undefined,
  ): Promise<T> {
    if (this.#closed) throw closedStoreError(this.#location);
    if (!this.#ready) await this.migrate();
    return this.#calls.withClient(bound, async (client) => {
      try {
        await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${keyLockId(this.schema, key)})`);
        const result = await work((statement, values) => client.query({ ...statement, values }));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
    });
  }

  /** The runner's `now` for the SQL, or null where the server's clock decides. */
  #now(now: number): number | null {
    return this.#clock === "server" ? null : now;
  }

  /**
   * Every statement goes through here: schema first, connection failures as StoreErrors. One
   * within a run's bound is cancelled when the run must end (see postgres-bound.ts).
   */
  async #query<R extends PgRow>(
    statement: PgStatement,
    values: unknown[],
    bound?: CallBound,
  ): Promise<PgResult<R>> {
    if (this.#closed) throw closedStoreError(this.#location);
    if (!this.#ready) await this.migrate();
    if (bound) {
      return this.#calls.withClient(bound, (client) => client.query<R>({ ...statement, values }));
    }
    try {
      return await this.pool.query<R>({ ...statement, values });
    } catch (error) {
      throw translatePgError(error, this.#location);
    }
  }
}

/**
 * Opens a `PostgresStore` from a `postgres://` or `postgresql://` URL; a `schema` query
 * parameter (`?schema=jobs`) picks the schema. This is what `openStore()` calls. `pg` stays
 * optional: it is loaded (with `require`, in postgres-options.ts) only when a pool is made from
 * a URL or connection string.
 *
 * @example
 * const store = await openPostgresStore("postgres://app@db.internal/app?schema=waymark");
 */
export async function openPostgresStore(
  url: string,
  options: PostgresCommonOptions & { poolSize?: number; connectTimeoutMs?: number } = {},
): Promise<PostgresStore> {
  const { connectionString, schema, groupCommit } = parsePostgresUrl(url);
  return PostgresStore.open({
    ...options,
    connectionString,
    schema: options.schema ?? schema,
    groupCommit: options.groupCommit ?? groupCommit,
  });
}

/** A statement run on the client of a {@link PostgresStore.#keyLocked} transaction. */
type LockedQuery = <R extends PgRow>(
  statement: PgStatement,
  values: unknown[],
) => Promise<PgResult<R>>;

function withText([text, values]: [string, unknown[]]): [PgStatement, unknown[]] {
  return [{ text }, values];
}
