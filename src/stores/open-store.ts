import { InvalidOptionError, StoreError } from "../core/errors.js";
import type { ReportStore } from "../core/store/report-store.js";
import { MemoryStore } from "./memory/memory-store.js";
import { openPostgresStore, type PostgresStore } from "./postgres/postgres-store.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";

/** The store a CLI command or example uses when none is given. */
export const DEFAULT_STORE_URL = "sqlite:.waymark/waymark.db";

/** How {@link openStore} opens a store. */
export interface OpenStoreOptions {
  /**
   * Create the store (a SQLite file and its folder, a PostgreSQL schema) or migrate it. With
   * `false`, a store that does not exist, or has an older schema, fails with
   * `STORE_NOT_FOUND` ("No store at …") and nothing is created.
   * @default true
   */
  readonly create?: boolean;
  /**
   * For reading only, as the reports do: nothing is created, migrated or written.
   * @default false
   */
  readonly readOnly?: boolean;
  /**
   * Write the checkpoint commits that runs sharing the store have ready at the same moment
   * together (one transaction on SQLite, one statement on PostgreSQL). `false` writes each
   * alone, as a lone run's always is. On PostgreSQL also `?groupCommit=false` in the URL.
   * @default true
   */
  readonly groupCommit?: boolean;
}

/**
 * A store `openStore` may return for a URL known only at run time: narrow it (`instanceof
 * SqliteStore`, or `store.kind === "sqlite"`) before running a processor whose `ctx.tx` is a
 * store's own handle; a processor that leaves `Tx` out runs on any of them.
 */
export type AnyStore = MemoryStore | SqliteStore | PostgresStore;

/** {@link OpenStoreOptions} of a store opened for running, not only for reading. */
type WritableStoreOptions = OpenStoreOptions & { readonly readOnly?: false };

/**
 * Opens a store from a URL: `sqlite:PATH` (parent folders are created), `memory:`, or
 * `postgres://…` / `postgresql://…` (needs the `pg` package). With `{ readOnly: true }` the
 * store must exist; it is opened for the reports and nothing is ever written.
 *
 * The type follows the URL: a literal `sqlite:…` URL gives a `SqliteStore`, `postgres://…`
 * a `PostgresStore`, `memory:` a `MemoryStore`; any other string gives {@link AnyStore}, to
 * narrow before running a processor typed for one store's `ctx.tx`.
 *
 * @example
 * const store = await openStore(process.env.WAYMARK_STORE ?? "sqlite:.waymark/waymark.db");
 * if (!(store instanceof SqliteStore)) throw new Error("this job writes through SqliteTx");
 * await run(summaries, { store, partition: "2024-01-15" });
 * const reports = await openStore("sqlite:.waymark/waymark.db", { readOnly: true });
 * console.log(await status(reports));
 */
export function openStore(url: string, options: { readonly readOnly: true }): Promise<ReportStore>;
export function openStore(
  url: `sqlite:${string}`,
  options?: WritableStoreOptions,
): Promise<SqliteStore>;
export function openStore(
  url: `postgres://${string}` | `postgresql://${string}`,
  options?: WritableStoreOptions,
): Promise<PostgresStore>;
export function openStore(
  url: "memory:" | "memory",
  options?: WritableStoreOptions,
): Promise<MemoryStore>;
export function openStore(url?: string, options?: OpenStoreOptions): Promise<AnyStore>;
export async function openStore(
  url: string = DEFAULT_STORE_URL,
  options: OpenStoreOptions = {},
): Promise<AnyStore> {
  const target = storeTarget(url);
  if (target.kind === "memory") return new MemoryStore();
  if (target.kind === "sqlite") return new SqliteStore(target.path, options);
  // The pg driver itself is loaded only here, when a PostgreSQL URL is opened.
  return openPostgresStore(target.url, options);
}

/** What a store URL names. */
export type StoreTarget =
  | { readonly kind: "memory" }
  | { readonly kind: "sqlite"; readonly path: string }
  | { readonly kind: "postgres"; readonly url: string };

/** Reads a store URL, refusing one that names no store with what to write instead. */
export function storeTarget(url: string): StoreTarget {
  if (typeof url !== "string" || url.trim() === "") {
    throw new InvalidOptionError(
      "url",
      `openStore(url) needs a store URL such as "${DEFAULT_STORE_URL}", "memory:" or ` +
        `"postgres://user@host/db", got ${JSON.stringify(url)}.`,
    );
  }
  if (url === "memory:" || url === "memory") return { kind: "memory" };
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") {
      throw new StoreError(
        "INVALID_STORE_URL",
        `The store URL "${url}" names no file. Use sqlite:PATH, e.g. "${DEFAULT_STORE_URL}".`,
      );
    }
    return { kind: "sqlite", path };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: "postgres", url };
  throw new StoreError(
    "INVALID_STORE_URL",
    `Unknown store URL "${redact(url)}". Use sqlite:PATH (e.g. "${DEFAULT_STORE_URL}"), ` +
      `memory:, or postgres://user@host:5432/database.`,
  );
}

/** Hides a password in a URL before it goes into a message. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, "//$1:***@");
}
