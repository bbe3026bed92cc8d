import { createRequire } from "node:module";
import { describeValue, InvalidOptionError, StoreError } from "../../core/errors.js";
import { redactUrl } from "./postgres-errors.js";
import type { PgPool } from "./postgres-pool.js";
import { unknownParameter } from "./postgres-url-parameters.js";

/** Options shared by every way of opening a `PostgresStore`. */
export interface PostgresCommonOptions {
  /**
   * The schema waymark's tables live in; created on first use. A letter or underscore, then
   * letters, digits or underscores, at most 63 characters.
   * @default "waymark"
   */
  schema?: string;
  /**
   * Ends a batch transaction (`ctx.tx`) that sits idle this long between statements, through
   * PostgreSQL's `idle_in_transaction_session_timeout`. A runner paused or hung mid-batch
   * otherwise keeps its row locks, and the runner that took its lease over waits on them.
   * Set it above the longest pause between two `ctx.tx` statements of a healthy batch.
   * @default undefined (the server's setting, usually no limit)
   */
  idleInTransactionTimeoutMs?: number;
  /**
   * Create the schema and its tables, or migrate older ones, on first use. With `false` the
   * schema must exist and be current, or the store fails with `STORE_NOT_FOUND` and creates
   * nothing: what commands that only look at a store use.
   * @default true
   */
  create?: boolean;
  /**
   * Open for reading only: nothing is created, migrated or written (`create` is false), and a
   * pool the store creates runs every transaction read-only.
   * @default false
   */
  readOnly?: boolean;
  /**
   * Whose clock decides when a lease expires and when a checkpoint was last committed:
   * `"server"`, PostgreSQL's own (`statement_timestamp()`), so that workers whose clocks
   * disagree by minutes never take a live lease from each other; or `"runner"`, the `now` a
   * run passes in (its `now` option), for simulations and tests that drive time themselves.
   * @default "server"
   */
  clock?: "server" | "runner";
  /**
   * Write the plain checkpoint commits of runs sharing this store that are ready at the same
   * moment as one statement (one round trip), each fenced on its own. A lone run's commit is
   * written at once either way; `false` writes every commit alone. In a URL:
   * `?groupCommit=false`.
   * @default true
   */
  groupCommit?: boolean;
}

/** Options for a pool the store creates and owns (and ends on `close()`). */
export interface PostgresConnectionOptions extends PostgresCommonOptions {
  /** A `postgres://user:password@host:port/database` URL. */
  connectionString: string;
  /**
   * The most connections the store's pool opens.
   * @default 10
   */
  poolSize?: number;
  /**
   * How long opening a connection may take before the store reports `STORE_UNAVAILABLE`.
   * @default 10000
   */
  connectTimeoutMs?: number;
}

/** Options for a pool you own: the store uses it and leaves it open on `close()`. */
export interface PostgresPoolOptions extends PostgresCommonOptions {
  /** A `pg.Pool`, or anything with its `query`/`connect`/`end` shape. */
  pool: PgPool;
}

/** How to construct a `PostgresStore`: from a connection string, or on your own pool. */
export type PostgresStoreOptions = PostgresConnectionOptions | PostgresPoolOptions;

/** What the store runs on once its options are resolved. */
export interface ResolvedPostgresOptions {
  readonly pool: PgPool;
  readonly ownsPool: boolean;
  readonly schema: string;
  readonly idleInTransactionTimeoutMs: number | undefined;
  readonly create: boolean;
  readonly readOnly: boolean;
  readonly clock: "server" | "runner";
  readonly groupCommit: boolean;
  /** The server as messages name it, never with its password. */
  readonly location: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Accepts a schema name that is a plain identifier, so it can be quoted safely everywhere. */
export function validateSchemaName(schema: unknown): string {
  if (typeof schema === "string" && IDENTIFIER.test(schema)) return schema;
  throw new InvalidOptionError(
    "schema",
    "Expected `schema` to be a letter or underscore followed by letters, digits or " +
      `underscores (at most 63), got ${describeValue(schema)}.`,
  );
}

/**
 * Checks a `postgres://` or `postgresql://` URL and splits off the `schema` query parameter,
 * which is waymark's and must not reach the driver. Throws `INVALID_STORE_URL` otherwise.
 */
export function parsePostgresUrl(url: string): {
  connectionString: string;
  schema?: string;
  groupCommit?: boolean;
} {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw invalidUrl(url, "it is not a valid URL", error);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw invalidUrl(url, `its scheme is "${parsed.protocol}"`);
  }
  const unknown = unknownParameter(parsed.searchParams);
  if (unknown) throw invalidUrl(url, unknown);
  const schema = parsed.searchParams.get("schema");
  const group = parsed.searchParams.get("groupCommit");
  if (schema === null && group === null) return { connectionString: url };
  if (group !== null && group !== "true" && group !== "false") {
    throw invalidUrl(url, `its groupCommit is "${group}", not true or false`);
  }
  parsed.searchParams.delete("schema");
  parsed.searchParams.delete("groupCommit");
  return {
    connectionString: parsed.toString(),
    ...(schema === null ? {} : { schema }),
    ...(group === null ? {} : { groupCommit: group === "true" }),
  };
}

/** Validates the options and creates the pool when the store is to own one. */
export function resolvePostgresOptions(options: PostgresStoreOptions): ResolvedPostgresOptions {
  const schema = validateSchemaName(options.schema ?? "waymark");
  const idleInTransactionTimeoutMs = options.idleInTransactionTimeoutMs;
  if (
    idleInTransactionTimeoutMs !== undefined &&
    !(Number.isInteger(idleInTransactionTimeoutMs) && idleInTransactionTimeoutMs >= 1)
  ) {
    throw new InvalidOptionError(
      "idleInTransactionTimeoutMs",
      "Expected `idleInTransactionTimeoutMs` to be milliseconds from 1 up, e.g. 60_000, got " +
        `${describeValue(idleInTransactionTimeoutMs)}.`,
    );
  }
  const readOnly = options.readOnly ?? false;
  const clock = options.clock ?? "server";
  if (clock !== "server" && clock !== "runner") {
    throw new InvalidOptionError(
      "clock",
      `Expected \`clock\` to be "server" or "runner", got ${describeValue(clock)}.`,
    );
  }
  const common = {
    schema,
    idleInTransactionTimeoutMs,
    readOnly,
    clock,
    groupCommit: options.groupCommit ?? true,
    create: !readOnly && (options.create ?? true),
  };
  if ("pool" in options && options.pool) {
    // An idle client that loses its connection emits "error" on the pool; a pool nobody
    // listens to would crash the process for a connection pg has already dropped.
    const pool = options.pool as PgPool & ErrorEmitter;
    if (pool.listenerCount?.("error") === 0) pool.on?.("error", () => {});
    return { ...common, pool: options.pool, ownsPool: false, location: "the given pool" };
  }
  const {
    connectionString,
    poolSize = 10,
    connectTimeoutMs = 10_000,
  } = options as PostgresConnectionOptions;
  if (typeof connectionString !== "string") {
    throw new InvalidOptionError(
      "connectionString",
      `Expected \`connectionString\` (a postgres:// URL) or \`pool\`, got ${describeValue(connectionString)}.`,
    );
  }
  parsePostgresUrl(connectionString);
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new InvalidOptionError(
      "poolSize",
      `Expected \`poolSize\` to be an integer from 1 and up, got ${describeValue(poolSize)}.`,
    );
  }
  const pg = loadPg();
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    connectionTimeoutMillis: connectTimeoutMs,
    // The server itself refuses any write on these connections.
    ...(readOnly ? { options: "-c default_transaction_read_only=on" } : {}),
  });
  // An idle client whose server went away emits "error" on the pool, which already drops it;
  // without a listener Node would crash the process instead.
  pool.on("error", () => {});
  return { ...common, pool, ownsPool: true, location: redactUrl(connectionString) };
}

/** The event-emitter slice of a `pg.Pool`, when the pool has it. */
interface ErrorEmitter {
  listenerCount?(event: "error"): number;
  on?(event: "error", listener: (error: Error) => void): unknown;
}

interface PgModule {
  Pool: new (config: {
    connectionString: string;
    max: number;
    connectionTimeoutMillis: number;
  }) => PgPool & { on(event: "error", listener: (error: Error) => void): unknown };
}

/** Loads `pg` only when a store is opened from a URL, so it stays an optional dependency. */
function loadPg(): PgModule {
  try {
    return createRequire(import.meta.url)("pg") as PgModule;
  } catch (error) {
    throw new StoreError(
      "STORE_UNAVAILABLE",
      "The PostgreSQL store needs the `pg` package. Install it with `npm install pg`.",
      { cause: error },
    );
  }
}

function invalidUrl(url: string, why: string, cause?: unknown): StoreError {
  return new StoreError(
    "INVALID_STORE_URL",
    `Cannot use ${JSON.stringify(redactUrl(url))} as a PostgreSQL store: ${why}. Expected ` +
      "postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters).",
    { cause },
  );
}
