import { FencedError, StoreError } from "../../core/errors.js";
import { type CallBound, fencedMessage, type LeaseHandle } from "../../core/store/run-store.js";
import { type CommitOutcome, earliestBound, type FlushGroup } from "../group-commit.js";
import type { PgResult, PgRow } from "./postgres-pool.js";
import type { PgStatement } from "./postgres-sql.js";

/**
 * One batch's commit as the PostgreSQL store groups it: a plain checkpoint commit (no
 * `ctx.tx` statement, no ledger change, no artifact), whose parameters are `commit`'s.
 */
export interface PgCommit {
  readonly lease: LeaseHandle;
  readonly values: readonly unknown[];
  /** The time its run has left, when it must end soon. */
  readonly bound?: CallBound | undefined;
}

/** Runs one statement through the store (schema check, errors as `StoreError`s). */
export type PgRun = <R extends PgRow>(
  statement: PgStatement,
  values: unknown[],
  bound?: CallBound,
) => Promise<PgResult<R>>;

const LANDED: CommitOutcome = Object.freeze({ ok: true });

/**
 * The PostgreSQL store's group flush. A lone commit is the store's own `commit` statement,
 * exactly as without grouping. Several go as one `commitGroup` statement: one round trip and
 * one WAL flush, each row fenced on its own, so a fenced commit simply updates nothing and
 * fails only its run while the others land.
 *
 * A commit that wrote through `ctx.tx` is not grouped: its statements already run in its own
 * transaction on its own connection, which PostgreSQL cannot merge with another's; a failing
 * `ctx.tx` statement fails that batch before it commits. When the grouped statement fails as
 * a whole, every commit of it is written again alone (the fenced UPDATE is safe to repeat),
 * so that only the one that fails fails, and a lost reply is read back by its own run.
 *
 * The grouped statement is cancelled when the first of its runs must end (see
 * postgres-bound.ts); each commit is then written alone within its own run's bound.
 */
export function pgGroupFlush(
  run: PgRun,
  commit: PgStatement,
  commitGroup: PgStatement,
): FlushGroup<PgCommit> {
  const one = async (pending: PgCommit): Promise<CommitOutcome> => {
    const { rowCount } = await run(commit, [...pending.values], pending.bound);
    return rowCount === 0 ? fenced(pending.lease) : LANDED;
  };
  // A commit whose run had no time left to write it alone may still have landed with the
  // group: the group's error, which its run reads back, says so.
  const alone = (pending: PgCommit, groupError: unknown): Promise<CommitOutcome> =>
    one(pending).catch((error: unknown) => ({
      ok: false,
      error: error instanceof StoreError && error.nothingLanded ? groupError : error,
    }));
  return async (commits) => {
    const [only] = commits;
    if (commits.length === 1 && only) return [await one(only)];
    let landed: Set<number>;
    try {
      const { rows } = await run<{ ordinal: string }>(
        commitGroup,
        columns(commits),
        earliestBound(commits),
      );
      landed = new Set(rows.map((row) => Number(row.ordinal)));
    } catch (error) {
      return Promise.all(commits.map((pending) => alone(pending, error)));
    }
    return commits.map((pending, i) => (landed.has(i + 1) ? LANDED : fenced(pending.lease)));
  };
}

function fenced(lease: LeaseHandle): CommitOutcome {
  return { ok: false, error: new FencedError(fencedMessage(lease)) };
}

/** `commit`'s parameters of every commit, turned into one array per parameter. */
function columns(commits: readonly PgCommit[]): unknown[][] {
  const width = commits[0]?.values.length ?? 0;
  return Array.from({ length: width }, (_, j) => commits.map((pending) => pending.values[j]));
}
