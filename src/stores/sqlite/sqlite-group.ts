import type { CallBound, CheckpointWrite } from "../../core/store/run-store.js";
import { type CommitOutcome, earliestBound, type FlushGroup } from "../group-commit.js";
import type { SqliteDatabase } from "./sqlite-driver.js";
import { translateSqliteError } from "./sqlite-errors.js";
import type { SqliteGuard } from "./sqlite-statements.js";
import type { SqliteTx } from "./sqlite-tx.js";

/**
 * One write of the SQLite store waiting for its group: a batch's commit, a completion, a run's
 * history row. `write` runs inside the group's transaction and throws to fail only itself
 * (`FencedError`, a failing staged `ctx.tx` statement).
 */
export interface SqliteWork {
  readonly write: () => void;
  /**
   * One statement that changes its row or nothing (a plain checkpoint commit, a history
   * row): it needs no savepoint, since a failing statement undoes only itself.
   */
  readonly plain: boolean;
  /** The time its run has left, when it must end soon: the group waits no longer for a lock. */
  readonly bound?: CallBound | undefined;
}

const LANDED: CommitOutcome = Object.freeze({ ok: true });

/**
 * The SQLite store's group flush. A lone write is a transaction of its own, as without
 * grouping. Several go in one `BEGIN IMMEDIATE … COMMIT`, so one fsync: each inside its own
 * savepoint unless plain (better-sqlite3 runs a transaction function called inside another as
 * `SAVEPOINT … RELEASE`, and `ROLLBACK TO` it when it throws), so a fenced commit or a failing
 * staged `ctx.tx` statement undoes only its own writes and fails only its own run.
 *
 * An error that ended the whole transaction (SQLite rolls back by itself on some I/O, full
 * disk or busy errors) fails the group: what follows must not land outside it, one statement
 * at a time. Each run then reads its write back, as after any lost reply.
 */
export function sqliteGroupFlush(
  database: SqliteDatabase,
  guard: SqliteGuard,
  path: string,
): FlushGroup<SqliteWork> {
  // Built once: wrapping a fresh function on every write costs about as much as the write.
  const one = database.transaction((work: SqliteWork) => work.write());
  const group = database.transaction((works: readonly SqliteWork[]): CommitOutcome[] =>
    works.map((work) => {
      try {
        if (work.plain) work.write();
        else one(work);
        return LANDED;
      } catch (error) {
        if (!database.inTransaction) throw error;
        return { ok: false, error: translateSqliteError(error, path) };
      }
    }),
  );
  return async (works) => {
    const [only] = works;
    if (works.length === 1 && only) {
      guard(() => one.immediate(only), only.bound);
      return [LANDED];
    }
    return guard(() => group.immediate(works), earliestBound(works));
  };
}

/** Whether a batch's commit writes its checkpoint row and nothing else. */
export function plainCommit(write: CheckpointWrite, tx: SqliteTx): boolean {
  return (
    tx.staged.length === 0 &&
    write.kind === "batch" &&
    !write.artifacts?.length &&
    !write.failures?.length &&
    !write.resolvedFailures?.length
  );
}
