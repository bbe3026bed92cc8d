import { existsSync } from "node:fs";
import { InvalidOptionError } from "../core/errors.js";
import { openStore, redact, storeTarget } from "./open-store.js";
import { translatePgError } from "./postgres/postgres-errors.js";
import {
  POSTGRES_MIGRATIONS,
  postgresSchemaDdl,
  postgresSchemaVersion,
} from "./postgres/postgres-migrations.js";
import { parsePostgresUrl, resolvePostgresOptions } from "./postgres/postgres-options.js";
import { connectSqlite } from "./sqlite/sqlite-driver.js";
import { translateSqliteError } from "./sqlite/sqlite-errors.js";
import {
  SQLITE_MIGRATIONS,
  sqliteSchemaDdl,
  sqliteSchemaVersion,
} from "./sqlite/sqlite-migrations.js";

/**
 * A store's schema, for teams whose DBAs create schemas: the SQL a store would run on itself,
 * to review and run by hand, and its version. `waymark schema` prints it.
 */
export interface StoreSchema {
  readonly kind: "sqlite" | "postgres";
  /** Where the store is: the file, or the URL without its password and the schema. */
  readonly location: string;
  /** The schema version this waymark reads and writes. */
  readonly latest: number;
  /** The store's version now: 0 when it has no waymark tables, or does not exist. */
  readonly current: number;
  /**
   * The SQL that brings it to `latest`: on PostgreSQL the migrations from `current` on, on
   * SQLite the whole schema of a fresh store.
   */
  readonly ddl: string;
}

/** Reads a store's schema version and the SQL that would make it current, changing nothing. */
export async function describeSchema(url: string): Promise<StoreSchema> {
  const target = storeTarget(url);
  if (target.kind === "memory") {
    throw new InvalidOptionError(
      "url",
      "A memory: store keeps no schema: name a sqlite:PATH or postgres:// store.",
    );
  }
  if (target.kind === "sqlite") {
    const current = existsSync(target.path) ? readSqliteVersion(target.path) : 0;
    const scratch = connectSqlite(":memory:", { timeout: 0 });
    try {
      const ddl = sqliteSchemaDdl(scratch);
      return {
        kind: "sqlite",
        location: target.path,
        latest: SQLITE_MIGRATIONS.length,
        current,
        ddl,
      };
    } finally {
      scratch.close();
    }
  }
  const { connectionString, schema = "waymark" } = parsePostgresUrl(target.url);
  const resolved = resolvePostgresOptions({
    connectionString,
    schema,
    readOnly: true,
    poolSize: 1,
  });
  try {
    const current = await postgresSchemaVersion(resolved.pool, resolved.schema);
    return {
      kind: "postgres",
      location: `${resolved.location} (schema "${resolved.schema}")`,
      latest: POSTGRES_MIGRATIONS.length,
      current,
      ddl: postgresSchemaDdl(resolved.schema, Math.min(current, POSTGRES_MIGRATIONS.length)),
    };
  } catch (error) {
    throw translatePgError(error, redact(target.url));
  } finally {
    await resolved.pool.end();
  }
}

/**
 * Creates or migrates a store's schema as a run would on first use (under the store's own
 * lock, so that workers starting meanwhile are safe); returns the versions before and after.
 */
export async function applySchema(url: string): Promise<{ from: number; to: number }> {
  const { current } = await describeSchema(url);
  const store = await openStore(url);
  await store.close();
  return { from: current, to: (await describeSchema(url)).current };
}

function readSqliteVersion(path: string): number {
  try {
    const db = connectSqlite(path, { timeout: 5000, fileMustExist: true });
    try {
      db.pragma("query_only = ON");
      return sqliteSchemaVersion(db);
    } finally {
      db.close();
    }
  } catch (error) {
    throw translateSqliteError(error, path);
  }
}
