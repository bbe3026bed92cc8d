import { giveBackTokens, pauseKey, takeTokens } from "../../core/store/quota-bucket.js";
import type {
  QuotaGiveBack,
  QuotaGrant,
  QuotaPause,
  QuotaPauseState,
  QuotaStore,
  QuotaTake,
  StoredQuota,
} from "../../core/store/quota-store.js";
import { QUOTA_COLUMNS, type QuotaRow, quotaValues, toStoredQuota } from "../quota-rows.js";
import type { SqliteDatabase, SqliteTransaction } from "./sqlite-driver.js";
import type { SqliteGuard, SqliteStatements } from "./sqlite-statements.js";

const UPSERT = `INSERT OR REPLACE INTO quotas (${QUOTA_COLUMNS.join(", ")})
  VALUES (${QUOTA_COLUMNS.map(() => "?").join(", ")})`;

/**
 * The quotas of a `SqliteStore`, in its `quotas` table: each call reads the key's row and
 * writes it back in one `BEGIN IMMEDIATE` transaction, so processes sharing the file take
 * turns on it. The arithmetic is `quota-bucket.ts`'s.
 *
 * A quota's row is written without an fsync (`synchronous = OFF` for that one transaction):
 * losing its last writes to a power cut costs a few turns of budget, while an fsync per lease
 * would cost every runner a disk flush. The checkpoint commits around it keep their setting.
 */
export class SqliteQuotas implements QuotaStore {
  readonly #database: SqliteDatabase;
  readonly #statements: SqliteStatements;
  readonly #guard: SqliteGuard;
  readonly #synchronous: string;
  readonly #change: SqliteTransaction<(key: string, change: Change<unknown>) => unknown>;

  constructor(
    database: SqliteDatabase,
    statements: SqliteStatements,
    guard: SqliteGuard,
    synchronous: string,
  ) {
    this.#database = database;
    this.#statements = statements;
    this.#guard = guard;
    this.#synchronous = synchronous;
    this.#change = database.transaction((key: string, change: Change<unknown>) => {
      const [row, result] = change(this.#read(key));
      if (row) this.#statements.get(UPSERT).run(...quotaValues(row));
      return result;
    });
  }

  async take(request: QuotaTake): Promise<QuotaGrant> {
    return this.#write(request.key, (row) => {
      const taken = takeTokens(row, request);
      return [taken.row, taken.grant];
    });
  }

  async giveBack(request: QuotaGiveBack): Promise<void> {
    this.#write(request.key, (row) => [row ? giveBackTokens(row, request) : undefined, undefined]);
  }

  async pause(request: QuotaPause): Promise<QuotaPauseState> {
    return this.#write(request.key, (row) => {
      const paused = pauseKey(row, request);
      return [paused, { key: request.key, pausedUntil: paused.pausedUntil, storeNow: request.now }];
    });
  }

  async pauses(keys: readonly string[], now: number): Promise<QuotaPauseState[]> {
    return this.#guard(() =>
      keys.map((key) => ({ key, pausedUntil: this.#read(key)?.pausedUntil ?? 0, storeNow: now })),
    );
  }

  async list(): Promise<StoredQuota[]> {
    return this.#guard(() =>
      (this.#statements.get("SELECT * FROM quotas ORDER BY key").all() as QuotaRow[]).map(
        toStoredQuota,
      ),
    );
  }

  #read(key: string): StoredQuota | undefined {
    const row = this.#statements.get("SELECT * FROM quotas WHERE key = ?").get(key) as
      | QuotaRow
      | undefined;
    return row ? toStoredQuota(row) : undefined;
  }

  /** One read-change-write of `key`'s row, in one transaction without an fsync. */
  #write<T>(key: string, change: Change<T>): T {
    return this.#guard(() => {
      this.#database.pragma("synchronous = OFF");
      try {
        return this.#change.immediate(key, change) as T;
      } finally {
        this.#database.pragma(`synchronous = ${this.#synchronous}`);
      }
    });
  }
}

/** A key's row after a change (undefined: write nothing), and what the call returns. */
type Change<T> = (row: StoredQuota | undefined) => [StoredQuota | undefined, T];
