import { PGlite } from "@electric-sql/pglite";
import type {
  PgPool,
  PgPoolClient,
  PgQueryConfig,
  PgResult,
} from "../../src/stores/postgres/postgres-pool.js";

/**
 * The `pg.Pool` slice `PostgresStore` uses, over in-process PGlite, so that the PostgreSQL
 * contract tests run on a machine with no server. PGlite has one connection: a checked-out
 * client holds it until released and every other query waits, which serialises the store's
 * transactions correctly but says nothing about real concurrency (those tests need a server).
 */
export class PglitePool implements PgPool {
  readonly #db: Promise<PGlite>;
  #tail: Promise<void> = Promise.resolve();
  /** Clients checked out and not yet released: a test that leaks one fails. */
  checkedOut = 0;

  constructor() {
    this.#db = PGlite.create();
  }

  async query<R extends object>(
    text: string | PgQueryConfig,
    values?: unknown[],
  ): Promise<PgResult<R>> {
    const unlock = await this.#lock();
    try {
      return await this.#run<R>(text, values);
    } finally {
      unlock();
    }
  }

  async connect(): Promise<PgPoolClient> {
    const unlock = await this.#lock();
    this.checkedOut++;
    let released = false;
    return {
      query: <R extends object>(text: string | PgQueryConfig, values?: unknown[]) => {
        if (released) return Promise.reject(new Error("query on a released PGlite client"));
        return this.#run<R>(text, values);
      },
      release: () => {
        if (released) throw new Error("PGlite client released twice");
        released = true;
        this.checkedOut--;
        unlock();
      },
    };
  }

  async end(): Promise<void> {
    await (await this.#db).close();
  }

  /** PGlite prepares nothing by name; a config's name is simply ignored. */
  async #run<R extends object>(
    textOrConfig: string | PgQueryConfig,
    values?: unknown[],
  ): Promise<PgResult<R>> {
    const config = typeof textOrConfig === "string" ? { text: textOrConfig, values } : textOrConfig;
    const result = await (await this.#db).query<R>(config.text, config.values);
    return { rows: result.rows, rowCount: result.rows.length || (result.affectedRows ?? 0) };
  }

  /** Waits for the single connection; resolves to the function that frees it. */
  async #lock(): Promise<() => void> {
    const previous = this.#tail;
    let unlock = () => {};
    this.#tail = new Promise<void>((resolve) => {
      unlock = resolve;
    });
    await previous;
    return unlock;
  }
}
