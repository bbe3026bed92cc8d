import { txEndedError, wrongTxError } from "../store-errors.js";

/**
 * `ctx.tx` on a `SqliteStore`. Statements are staged while `processBatch` runs and executed
 * inside the checkpoint's transaction when the batch commits, so the batch's writes and its
 * checkpoint land together or not at all.
 *
 * Why staged rather than an open transaction: SQLite has one writer per file. Holding the
 * write lock across `processBatch`'s awaits (network calls, timers) would stall every other
 * runner sharing the file. The cost: a staged write is not visible to reads until the batch
 * commits. Use upserts (`INSERT … ON CONFLICT DO UPDATE`) so a replayed batch stays idempotent.
 *
 * @example
 * async processBatch(players, ctx) {
 *   for (const p of players) ctx.tx.run("INSERT OR REPLACE INTO summaries VALUES (?, ?)", p.id, p.points);
 * }
 */
export class SqliteTx {
  /** Statements waiting for the commit, with their parameters, in order. */
  readonly staged: Array<[sql: string, params: unknown[]]> = [];
  #ended = false;

  /** Stages one statement; `params` bind as in better-sqlite3's `statement.run(...params)`. */
  run(sql: string, ...params: unknown[]): void {
    if (typeof sql === "function") throw wrongTxError("sqlite", "ctx.tx.run got a function");
    if (typeof sql !== "string" || sql.trim() === "") {
      throw new TypeError("ctx.tx.run(sql, ...params) needs the SQL text as its first argument.");
    }
    if (this.#ended) throw txEndedError();
    this.staged.push([sql, params]);
  }

  /** Refuses every later `run`: the batch is committing or over. */
  end(): void {
    this.#ended = true;
  }

  /** Drops every staged statement and refuses later ones (the batch failed or was abandoned). */
  clear(): void {
    this.#ended = true;
    this.staged.length = 0;
  }
}
