import { StoreError } from "../../core/errors.js";
import type { CallBound } from "../../core/store/run-store.js";
import { translatePgError } from "./postgres-errors.js";
import type { PgPool, PgPoolClient } from "./postgres-pool.js";

/**
 * The PostgreSQL store's calls made within a run's bound (see `CallBound`). When the bound's
 * signal aborts while a statement runs (waiting on a row lock another session holds, or on a
 * server that stopped answering), the statement is cancelled on the server
 * (`pg_cancel_backend`), so that it cannot land after the run gave up on it, nor hold the
 * pool's connection (and `close()`) after the run ended. A cancelled statement is
 * `STORE_TIMEOUT`; whether a write committed just before the cancel is read back, as after a
 * lost reply. Its connection is dropped, never reused: a late cancel must not hit the next
 * statement on it.
 *
 * Calls made without a bound never come here: a run with no end in sight pays nothing.
 */
export class PgBoundCalls {
  readonly #pool: PgPool;
  readonly #location: string;
  /** Clients running a bounded call now: `close()` ends their connections. */
  readonly #running = new Set<PgPoolClient>();
  /** Clients whose statement was cancelled: dropped when given back. */
  readonly #cancelled = new WeakSet<PgPoolClient>();

  constructor(pool: PgPool, where: string) {
    this.#pool = pool;
    this.#location = where;
  }

  /**
   * Checks a client out and runs `work` on it within `bound` (without one, as it is), then
   * gives it back: dropped when the work failed or was cancelled. The work's errors are
   * translated (see `translatePgError`). One async layer: a run makes a call per batch.
   */
  async withClient<T>(
    bound: CallBound | undefined,
    work: (client: PgPoolClient) => Promise<T>,
  ): Promise<T> {
    if (bound?.signal.aborted) throw this.#notSent();
    let client: PgPoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw translatePgError(error, this.#location, true);
    }
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on?.("error", onError);
    const cancel = bound && this.#watch(client, bound);
    try {
      return await work(client);
    } catch (error) {
      broken ??= error instanceof Error ? error : new Error(String(error));
      throw translatePgError(
        this.#cancelled.has(client) ? this.#timedOut(error) : error,
        this.#location,
      );
    } finally {
      if (bound && cancel) this.#unwatch(client, bound, cancel);
      client.removeListener?.("error", onError);
      this.giveBack(client, broken);
    }
  }

  /**
   * Runs `work` on `client`, a client already checked out, cancelling it on the server when
   * `bound`'s signal aborts first. Without a bound, `work` as it is.
   */
  async within<T>(
    client: PgPoolClient,
    bound: CallBound | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    if (bound === undefined) return work();
    if (bound.signal.aborted) throw this.#notSent();
    const cancel = this.#watch(client, bound);
    try {
      return await work();
    } catch (error) {
      throw this.#cancelled.has(client) ? this.#timedOut(error) : error;
    } finally {
      this.#unwatch(client, bound, cancel);
    }
  }

  /** Gives a client back to the pool; one that failed (`broken`) or was cancelled is dropped. */
  giveBack(client: PgPoolClient, broken?: Error): void {
    const cancelled = this.#cancelled.has(client);
    client.release(broken ?? (cancelled ? new Error("its statement was cancelled") : undefined));
  }

  /**
   * Ends the connections of bounded calls still running: their runs gave up on them. Each
   * statement then fails with a lost connection, and its client leaves the pool.
   */
  abandonRunning(): void {
    for (const client of this.#running) void client.end?.().catch(() => {});
    this.#running.clear();
  }

  /** Cancels `client`'s statement when `bound` aborts; returns the listener to remove. */
  #watch(client: PgPoolClient, bound: CallBound): () => void {
    const cancel = () => this.#cancel(client);
    bound.signal.addEventListener("abort", cancel, { once: true });
    this.#running.add(client);
    return cancel;
  }

  #unwatch(client: PgPoolClient, bound: CallBound, cancel: () => void): void {
    bound.signal.removeEventListener("abort", cancel);
    this.#running.delete(client);
  }

  /** A call not sent: its bound had run out already. */
  #notSent(): StoreError {
    return new StoreError(
      "STORE_TIMEOUT",
      `No time was left for a statement on PostgreSQL at ${this.#location}; it was not sent.`,
      { location: this.#location, nothingLanded: true },
    );
  }

  /** The error of a statement this cancelled: `STORE_TIMEOUT`, or its own if it failed so. */
  #timedOut(error: unknown): unknown {
    if (!isCancel(error)) return error;
    return new StoreError(
      "STORE_TIMEOUT",
      `PostgreSQL at ${this.#location} did not answer in the time the run had left, so the ` +
        "statement was cancelled. Another session may hold a lock on waymark's rows " +
        "(see pg_locks), or the server is overloaded.",
      { cause: error, location: this.#location },
    );
  }

  #cancel(client: PgPoolClient): void {
    this.#cancelled.add(client);
    const backend = client.processID;
    if (typeof backend !== "number") {
      // A pool whose clients do not say which backend they talk to: close the connection.
      void client.end?.().catch(() => {});
      return;
    }
    // Through another connection of the pool: the stuck one is busy.
    void this.#pool.query("SELECT pg_cancel_backend($1)", [backend]).catch(() => {});
  }
}

/** PostgreSQL's `query_canceled` (57014), as a cancelled statement fails. */
function isCancel(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "57014";
}
