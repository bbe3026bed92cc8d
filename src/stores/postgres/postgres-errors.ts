import { StoreError } from "../../core/errors.js";
import { closedStoreError } from "../store-errors.js";

const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);

/**
 * Codes a connection fails with only while it is being made (refused, a host name that does
 * not resolve) or a login refused: nothing was ever sent on it.
 */
const NEVER_CONNECTED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "28P01",
  "28000",
  "3D000",
]);

/**
 * A connection string with its password replaced by `***`, for messages and logs. A string
 * that does not parse as a URL is still masked between `user:` and `@`.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):[^@/]*@/, "//$1:***@");
  }
}

/**
 * Whether an error means the connection, not the statement, failed: the server cannot be
 * reached, went away, or is shutting down. Such errors are worth a retry; others are not.
 */
export function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  if (code && (UNREACHABLE_CODES.has(code) || code.startsWith("08") || code.startsWith("57P"))) {
    return true;
  }
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    message,
  );
}

/**
 * Turns a failure to reach or log in to PostgreSQL into a `StoreError` that says what to
 * check; statement errors (a constraint, a syntax error) come back unchanged.
 * `where` names the server without its password. `connecting`: the error came from checking a
 * connection out of the pool, before anything was sent on it.
 *
 * A connection that was never made landed nothing: its error says so (`nothingLanded`), and
 * a write that failed so is not read back.
 */
export function translatePgError(error: unknown, location: string, connecting = false): unknown {
  if (error instanceof StoreError) return error;
  const code = errorCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  const notSent =
    connecting ||
    (code !== undefined && NEVER_CONNECTED.has(code)) ||
    /timeout exceeded when trying to connect/i.test(detail);
  const options = { cause: error, location, ...(notSent ? { nothingLanded: true } : {}) };
  const nothing = notSent ? " Nothing was written: the connection was never made." : "";
  if (code === "28P01" || code === "28000") {
    return new StoreError(
      "STORE_UNAVAILABLE",
      `PostgreSQL at ${location} refused the login: ${detail}. Check the user name and password ` +
        `in the store URL (or PGUSER/PGPASSWORD) and the server's pg_hba.conf.${nothing}`,
      options,
    );
  }
  if (code === "3D000") {
    return new StoreError(
      "STORE_UNAVAILABLE",
      `PostgreSQL at ${location}: ${detail}. Check the database name at the end of the store URL, ` +
        `or create the database first (createdb NAME).${nothing}`,
      options,
    );
  }
  if (code === "42501") {
    return new StoreError(
      "STORE_UNAVAILABLE",
      `PostgreSQL at ${location}: ${detail}. The role needs CREATE on the database to create ` +
        "waymark's schema, or an administrator can create the schema and grant it to the role.",
      { cause: error, location },
    );
  }
  if (error instanceof Error && /Cannot use a pool after calling end/.test(error.message)) {
    return closedStoreError(location, error);
  }
  if (isConnectionError(error) || connecting) {
    return new StoreError(
      "STORE_UNAVAILABLE",
      `Cannot reach the PostgreSQL store at ${location}: ${detail || code}. Check that the server ` +
        `is running and that the host and port in the store URL are right.${nothing}`,
      options,
    );
  }
  return error;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") return code;
  // Node 20 tries every address of a host name and reports an AggregateError of them all.
  const inner = (error as { errors?: unknown[] }).errors?.[0];
  return inner === undefined ? undefined : errorCode(inner);
}
