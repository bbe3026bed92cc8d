import type { CallBound } from "../../core/store/run-store.js";
import { txEndedError } from "../store-errors.js";
import type { PgBoundCalls } from "./postgres-bound.js";
import { translatePgError } from "./postgres-errors.js";
import type { PgPool, PgPoolClient, PgQueryConfig, PgResult, PgRow } from "./postgres-pool.js";

/**
 * `ctx.tx` on a `PostgresStore`: a connection inside the batch's transaction. The first
 * `query` checks a client out of the pool and opens the transaction, so a batch that never
 * touches `ctx.tx` costs nothing extra; the checkpoint commits on the same connection, and
 * the batch's writes land with it or not at all.
 *
 * The transaction holds its row locks until the batch commits. Do slow work (API calls,
 * computation) before the first write, so that a runner paused mid-batch blocks no one for
 * long; `idleInTransactionTimeoutMs` bounds how long one can.
 *
 * @example
 * async processBatch(players, ctx) {
 *   for (const p of players) {
 *     await ctx.tx.query(
 *       "INSERT INTO summaries (id, points) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET points = $2",
 *       [p.id, p.points],
 *     );
 *   }
 * }
 */
export interface PgTx {
  /** Runs one parameterised statement in the batch's transaction (node-postgres's signature). */
  // biome-ignore lint/suspicious/noExplicitAny: mirrors pg's own `R = any` default.
  query<R extends PgRow = any>(text: string, values?: unknown[]): Promise<PgResult<R>>;
}

/** The store's side of one batch's transaction: the `ctx.tx` handle and how to end it. */
export interface PgBatchTransaction {
  readonly tx: PgTx;
  /** Whether `tx` opened a transaction (some statement went through it). */
  readonly used: boolean;
  /**
   * The time the run has left for the commit, set when it begins: the statements from then
   * on are cancelled on the server when it runs out (see postgres-bound.ts).
   */
  bound: CallBound | undefined;
  /**
   * Runs the fenced checkpoint UPDATE as the transaction's last statement, then COMMIT when it
   * changed a row or ROLLBACK when it did not (the lease was lost). Resolves to whether the
   * transaction committed. Always gives the client back to the pool.
   */
  finish(statement: PgQueryConfig): Promise<boolean>;
  /** Discards the batch's writes and gives the client back. */
  rollback(): Promise<void>;
  /** Refuses any later use of `tx`: the batch committed without it. */
  seal(): void;
}

/**
 * Opens the lazy transaction of one batch on `pool`. With `idleTimeoutMs`, the server ends
 * the transaction if it sits idle that long, releasing its locks (see the store option).
 * `calls` cancels the statements of a commit made within its run's bound.
 */
export function openPgTransaction(
  pool: PgPool,
  idleTimeoutMs?: number,
  location = "the given pool",
  calls?: PgBoundCalls,
): PgBatchTransaction {
  let begun: Promise<PgPoolClient> | null = null;
  let bound: CallBound | undefined;
  let client: PgPoolClient | null = null;
  let ended = false;
  // Statements of processBatch still running: a batch abandoned at its deadline may leave some.
  let inFlight = 0;
  // A checked-out client whose connection dies emits "error"; with no listener Node would
  // crash the process while processBatch is still awaiting something else.
  let broken: Error | null = null;
  const onError = (error: Error) => {
    broken = error;
  };

  const begin = async (): Promise<PgPoolClient> => {
    const checkedOut = await pool.connect();
    checkedOut.on?.("error", onError);
    try {
      await checkedOut.query("BEGIN");
      if (idleTimeoutMs !== undefined) {
        await checkedOut.query(
          "SELECT set_config('idle_in_transaction_session_timeout', $1, true)",
          [`${idleTimeoutMs}ms`],
        );
      }
    } catch (error) {
      giveBack(checkedOut, error);
      throw error;
    }
    client = checkedOut;
    return checkedOut;
  };

  const giveBack = (checkedOut: PgPoolClient, error?: unknown) => {
    checkedOut.removeListener?.("error", onError);
    const cause = broken ?? (error instanceof Error ? error : undefined);
    if (calls) calls.giveBack(checkedOut, cause);
    else checkedOut.release(cause);
    client = null;
  };

  /** Runs `statement` on the transaction's client, within the commit's bound once it has one. */
  const run = <R extends PgRow>(
    checkedOut: PgPoolClient,
    statement: PgQueryConfig | string,
    values?: unknown[],
  ) =>
    calls && bound
      ? calls.within(checkedOut, bound, () => checkedOut.query<R>(statement, values))
      : checkedOut.query<R>(statement, values);

  /** Ends the transaction with `ROLLBACK`; a client that cannot even do that is dropped. */
  const abort = async (checkedOut: PgPoolClient) => {
    if (broken) return giveBack(checkedOut, broken);
    try {
      await checkedOut.query("ROLLBACK");
      giveBack(checkedOut);
    } catch (error) {
      giveBack(checkedOut, error);
    }
  };

  const tx: PgTx = {
    query: async (text, values) => {
      if (ended) throw txEndedError();
      inFlight++;
      try {
        begun ??= begin();
        const checkedOut = await begun;
        return await run(checkedOut, text, values);
      } catch (error) {
        // A lost connection is the store's failure (StoreError); a failing statement stays
        // the driver's error, for processBatch to catch (a unique violation, say).
        throw translatePgError(error, location);
      } finally {
        inFlight--;
      }
    },
  };

  return {
    tx,
    get used() {
      return begun !== null;
    },
    get bound() {
      return bound;
    },
    set bound(value) {
      bound = value;
    },
    async finish(statement) {
      ended = true;
      // A failed BEGIN already gave its client back; its error surfaces here.
      const checkedOut = await (begun as Promise<PgPoolClient>);
      let changed: number | null;
      try {
        changed = (await run(checkedOut, statement)).rowCount;
      } catch (error) {
        await abort(checkedOut);
        throw error;
      }
      if (changed === 0) {
        await abort(checkedOut);
        return false;
      }
      try {
        await run(checkedOut, "COMMIT");
      } catch (error) {
        giveBack(checkedOut, error);
        throw error;
      }
      giveBack(checkedOut);
      return true;
    },
    seal() {
      ended = true;
    },
    async rollback() {
      ended = true;
      if (begun === null) return;
      if (inFlight > 0) {
        // processBatch was abandoned with a statement (or the BEGIN) still running: ROLLBACK
        // would queue behind it. Closing the connection ends the transaction at once.
        const abandoned = new Error("The batch was abandoned with a ctx.tx statement running.");
        begun.then((checkedOut) => giveBack(checkedOut, abandoned)).catch(() => {});
        return;
      }
      try {
        await begun;
      } catch {
        return; // BEGIN failed: nothing to roll back, the client is already back.
      }
      if (client) await abort(client);
    },
  };
}
