import type { CommitOutcome, FlushGroup } from "../group-commit.js";
import type { CheckpointWrite, LeaseHandle } from "../run-store.js";
import type { SqliteDatabase, SqliteTransaction } from "./sqlite-driver.js";
import { translateSqliteError } from "./sqlite-errors.js";
import type { SqliteGuard } from "./sqlite-statements.js";
import type { SqliteTx } from "./sqlite-tx.js";

/** One batch's commit as the SQLite store writes it: the checkpoint and its staged `ctx.tx`. */
export interface SqliteCommit {
  readonly lease: LeaseHandle;
  readonly write: CheckpointWrite;
  readonly tx: SqliteTx;
}

/** The writes of one commit (`#writeBatch`): fenced first, throws `FencedError`. */
export type SqliteWriteOne = (lease: LeaseHandle, write: CheckpointWrite, tx: SqliteTx) => void;

/** The same in a transaction of its own (`#commitBatch`), or a savepoint inside another. */
export type SqliteCommitOne = SqliteTransaction<SqliteWriteOne>;

const LANDED: CommitOutcome = Object.freeze({ ok: true });

/**
 * The SQLite store's group flush. A lone commit is the store's own transaction, exactly as
 * without grouping. Several go in one `BEGIN IMMEDIATE … COMMIT`, so one fsync: each inside
 * its own savepoint (better-sqlite3 runs a transaction function called inside another as
 * `SAVEPOINT … RELEASE`, and `ROLLBACK TO` it when it throws), so a fenced commit or a failing
 * staged `ctx.tx` statement undoes only its own writes and fails only its own run.
 *
 * A plain commit (the checkpoint only: nothing staged, no ledger change, no artifact) needs
 * no savepoint: its one fenced UPDATE either changes its row or nothing, so it goes without.
 *
 * An error that ended the whole transaction (SQLite rolls back by itself on some I/O, full
 * disk or busy errors) fails the group: what follows must not land outside it, one statement
 * at a time. Each run then reads its commit back, as after any lost reply.
 */
export function sqliteGroupFlush(
  database: SqliteDatabase,
  writeOne: SqliteWriteOne,
  commitOne: SqliteCommitOne,
  guard: SqliteGuard,
  path: string,
): FlushGroup<SqliteCommit> {
  const group = database.transaction((commits: readonly SqliteCommit[]): CommitOutcome[] =>
    commits.map((commit) => {
      try {
        const write = plain(commit) ? writeOne : commitOne;
        write(commit.lease, commit.write, commit.tx);
        return LANDED;
      } catch (error) {
        if (!database.inTransaction) throw error;
        return { ok: false, error: translateSqliteError(error, path) };
      }
    }),
  );
  return async (commits) => {
    const [only] = commits;
    if (commits.length === 1 && only) {
      guard(() => commitOne.immediate(only.lease, only.write, only.tx));
      return [LANDED];
    }
    return guard(() => group.immediate(commits));
  };
}

/** Whether a commit writes the checkpoint row and nothing else. */
function plain({ write, tx }: SqliteCommit): boolean {
  return (
    tx.staged.length === 0 &&
    !write.artifacts?.length &&
    !write.failures?.length &&
    !write.resolvedFailures?.length
  );
}
