import { StoreError } from "../../core/errors.js";
import { LEGACY_SHARD_KEY_PG } from "../legacy-shard-key.js";
import type { PgPool, PgPoolClient } from "./postgres-pool.js";

/**
 * Numbered migrations, applied in order; each is a list of single statements (no
 * multi-statement strings, so every driver and PGlite can run them). `s` is the quoted schema.
 * Append new entries; never edit one that has shipped. The tables mirror the SQLite store's,
 * with BIGINT for epoch milliseconds and counts.
 */
export const POSTGRES_MIGRATIONS: ReadonlyArray<(s: string) => readonly string[]> = [
  // 1: checkpoints, run history, last completion per partition.
  (s) => [
    `CREATE TABLE ${s}.checkpoints (
       processor          TEXT    NOT NULL,
       partition          TEXT    NOT NULL,
       processor_version  INTEGER,
       cursor             TEXT,
       completed          BIGINT  NOT NULL DEFAULT 0,
       total              BIGINT,
       state              TEXT,
       fingerprint        TEXT,
       run_id             TEXT,
       lease_owner        TEXT,
       lease_expires_at   BIGINT,
       fence              BIGINT  NOT NULL DEFAULT 0,
       attempt            INTEGER NOT NULL DEFAULT 0,
       created_at         BIGINT  NOT NULL,
       updated_at         BIGINT  NOT NULL,
       PRIMARY KEY (processor, partition)
     )`,
    `CREATE TABLE ${s}.runs (
       run_id         TEXT    PRIMARY KEY,
       processor      TEXT    NOT NULL,
       partition      TEXT    NOT NULL,
       status         TEXT    NOT NULL,
       started_at     BIGINT  NOT NULL,
       finished_at    BIGINT,
       resumed_from   BIGINT,
       processed      BIGINT  NOT NULL,
       total          BIGINT,
       batches        INTEGER NOT NULL,
       checkpoint_ms  DOUBLE PRECISION NOT NULL,
       attempt        INTEGER NOT NULL,
       reason         TEXT,
       error          TEXT
     )`,
    `CREATE INDEX runs_by_started_at ON ${s}.runs (started_at)`,
    `CREATE INDEX runs_by_processor ON ${s}.runs (processor, partition, started_at)`,
    `CREATE TABLE ${s}.completions (
       processor     TEXT    NOT NULL,
       partition     TEXT    NOT NULL,
       completed_at  BIGINT  NOT NULL,
       PRIMARY KEY (processor, partition)
     )`,
  ],
  // 2: the failure ledger: entities skipped after every attempt failed, for redrive.
  (s) => [
    `CREATE TABLE ${s}.failures (
       processor        TEXT    NOT NULL,
       partition        TEXT    NOT NULL,
       cursor           TEXT    NOT NULL,
       error            TEXT    NOT NULL,
       attempts         INTEGER NOT NULL,
       first_failed_at  BIGINT  NOT NULL,
       last_failed_at   BIGINT  NOT NULL,
       run_id           TEXT    NOT NULL,
       PRIMARY KEY (processor, partition, cursor)
     )`,
  ],
  // Artifacts, as in the SQLite store. Ordering note: this is migration 3; the failure
  // ledger's migration is 2 and goes before it. It depends on nothing but migration 1.
  // Chunks cascade with their blob; a referenced blob cannot be deleted (artifacts FK).
  (s) => [
    `CREATE TABLE ${s}.artifact_blobs (
       blob_id     TEXT    PRIMARY KEY,
       processor   TEXT    NOT NULL,
       partition   TEXT    NOT NULL,
       hash        TEXT,
       size        BIGINT,
       chunks      INTEGER,
       created_at  BIGINT  NOT NULL
     )`,
    `CREATE INDEX artifact_blobs_by_key ON ${s}.artifact_blobs (processor, partition)`,
    `CREATE TABLE ${s}.artifact_chunks (
       blob_id  TEXT    NOT NULL REFERENCES ${s}.artifact_blobs ON DELETE CASCADE,
       seq      INTEGER NOT NULL,
       data     BYTEA   NOT NULL,
       PRIMARY KEY (blob_id, seq)
     )`,
    `CREATE TABLE ${s}.artifacts (
       processor   TEXT    NOT NULL,
       partition   TEXT    NOT NULL,
       name        TEXT    NOT NULL,
       blob_id     TEXT    NOT NULL REFERENCES ${s}.artifact_blobs,
       hash        TEXT    NOT NULL,
       size        BIGINT  NOT NULL,
       chunks      INTEGER NOT NULL,
       created_at  BIGINT  NOT NULL,
       PRIMARY KEY (processor, partition, name)
     )`,
    `CREATE INDEX artifacts_by_blob ON ${s}.artifacts (blob_id)`,
  ],
  // 4: shards get a column of their own ('' is the whole partition) and join every key.
  // Old `partition#id` keys are split by the rule in legacy-shard-key.ts.
  (s) => [
    ...["checkpoints", "completions", "failures", "artifacts", "artifact_blobs", "runs"].flatMap(
      (table) => [
        `ALTER TABLE ${s}.${table} ADD COLUMN shard TEXT NOT NULL DEFAULT ''`,
        `UPDATE ${s}.${table}
         SET partition = substring(partition from '${LEGACY_SHARD_KEY_PG}'),
             shard = substring(partition from '${LEGACY_SHARD_KEY_PG.replace("(.+)", ".+")}')
         WHERE partition ~ '${LEGACY_SHARD_KEY_PG}'`,
      ],
    ),
    ...[
      ["checkpoints", "processor, partition, shard"],
      ["completions", "processor, partition, shard"],
      ["failures", "processor, partition, shard, cursor"],
      ["artifacts", "processor, partition, shard, name"],
    ].flatMap(([table, key]) => [
      `ALTER TABLE ${s}.${table} DROP CONSTRAINT ${table}_pkey`,
      `ALTER TABLE ${s}.${table} ADD PRIMARY KEY (${key})`,
    ]),
    `DROP INDEX ${s}.artifact_blobs_by_key`,
    `CREATE INDEX artifact_blobs_by_key ON ${s}.artifact_blobs (processor, partition, shard)`,
    `DROP INDEX ${s}.runs_by_processor`,
    `CREATE INDEX runs_by_processor ON ${s}.runs (processor, partition, shard, started_at)`,
  ],
  // 5: backfills, so that rerunning one does not run again what it completed since it began.
  (s) => [
    `CREATE TABLE ${s}.backfills (
       processor    TEXT    NOT NULL,
       backfill_id  TEXT    NOT NULL,
       partitions   INTEGER NOT NULL,
       started_at   BIGINT  NOT NULL,
       updated_at   BIGINT  NOT NULL,
       finished_at  BIGINT,
       PRIMARY KEY (processor, backfill_id)
     )`,
    `CREATE INDEX completions_by_time ON ${s}.completions (processor, completed_at)`,
  ],
  // 6: the run that completed each key, so that a completion whose reply was lost is found.
  (s) => [`ALTER TABLE ${s}.completions ADD COLUMN run_id TEXT`],
  // 7: the name of the codec that wrote a checkpoint's state (NULL: JSON, from before).
  (s) => [`ALTER TABLE ${s}.checkpoints ADD COLUMN state_codec TEXT`],
  // 8: what a history row records: a run, or a redrive of the failure ledger.
  (s) => [`ALTER TABLE ${s}.runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run'`],
  // 9: elastic backfills. A checkpoint stores the range it covers (a split narrows it), the
  // digest of the static split it was made under, the shard it was split from, and a pending
  // split request; a completion keeps what it covered; history keeps every split.
  (s) => [
    `ALTER TABLE ${s}.checkpoints ADD COLUMN range_from TEXT, ADD COLUMN range_to TEXT,
       ADD COLUMN layout TEXT, ADD COLUMN parent TEXT, ADD COLUMN split_requested_by TEXT,
       ADD COLUMN split_requested_at BIGINT, ADD COLUMN split_note TEXT`,
    `ALTER TABLE ${s}.completions ADD COLUMN range_from TEXT, ADD COLUMN range_to TEXT,
       ADD COLUMN layout TEXT, ADD COLUMN completed BIGINT, ADD COLUMN total BIGINT`,
    `CREATE TABLE ${s}.splits (
       processor     TEXT   NOT NULL,
       partition     TEXT   NOT NULL,
       shard         TEXT   NOT NULL,
       new_shard     TEXT   NOT NULL,
       at_cursor     TEXT   NOT NULL,
       requested_by  TEXT,
       run_id        TEXT   NOT NULL,
       split_at      BIGINT NOT NULL,
       PRIMARY KEY (processor, partition, new_shard)
     )`,
  ],
  // 10: a ledger entry is resolved, not deleted, once a later commit processes its entity.
  (s) => [
    `ALTER TABLE ${s}.failures ADD COLUMN resolved_at BIGINT`,
    `ALTER TABLE ${s}.failures ADD COLUMN resolved_by TEXT`,
  ],
  // 11: entities a run skipped to the failure ledger.
  (s) => [`ALTER TABLE ${s}.runs ADD COLUMN skipped BIGINT NOT NULL DEFAULT 0`],
  // 12: shared quotas, one row per key: its definition, its token schedule (`tat`, when the
  // last reserved token has its turn), its pause, and its use over the last two minutes.
  (s) => [
    `CREATE TABLE ${s}.quotas (
       key                TEXT             PRIMARY KEY,
       quota_limit        DOUBLE PRECISION NOT NULL,
       per_ms             DOUBLE PRECISION NOT NULL,
       burst              DOUBLE PRECISION NOT NULL,
       adaptive           BOOLEAN          NOT NULL,
       rate               DOUBLE PRECISION NOT NULL,
       rate_changed_at    BIGINT           NOT NULL,
       tat                DOUBLE PRECISION NOT NULL,
       paused_until       DOUBLE PRECISION NOT NULL DEFAULT 0,
       pauses             BIGINT           NOT NULL DEFAULT 0,
       last_pause_at      BIGINT,
       taken              DOUBLE PRECISION NOT NULL DEFAULT 0,
       minute_start       BIGINT           NOT NULL,
       minute_taken       DOUBLE PRECISION NOT NULL DEFAULT 0,
       prev_minute_taken  DOUBLE PRECISION NOT NULL DEFAULT 0,
       waiting            JSONB            NOT NULL DEFAULT '{}',
       updated_at         BIGINT           NOT NULL
     )`,
  ],
];

/** The table that records which migrations a schema has had. */
function migrationsTable(q: string): string {
  return `CREATE TABLE IF NOT EXISTS ${q}.migrations (
       version     INTEGER PRIMARY KEY,
       applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
     )`;
}

/**
 * The SQL that creates (or, from `fromVersion`, upgrades) waymark's tables in `schema`, for a
 * DBA to review and run: the migrations in order, each recorded in the `migrations` table as
 * the store would record it, in one transaction. A store opened on the result finds it
 * current and changes nothing.
 */
export function postgresSchemaDdl(schema: string, fromVersion = 0): string {
  const q = quoteIdentifier(schema);
  const latest = POSTGRES_MIGRATIONS.length;
  if (fromVersion >= latest) {
    return `-- waymark's tables in schema ${q} are at version ${latest}: nothing to run.\n`;
  }
  const lines = [
    `-- waymark's tables in schema ${q}: migrations ${fromVersion + 1} to ${latest}`,
    "BEGIN;",
    `CREATE SCHEMA IF NOT EXISTS ${q};`,
    `${migrationsTable(q)};`,
  ];
  for (let version = fromVersion + 1; version <= latest; version++) {
    const migration = POSTGRES_MIGRATIONS[version - 1] as (s: string) => readonly string[];
    lines.push("", `-- migration ${version}`);
    for (const statement of migration(q)) lines.push(`${statement};`);
    lines.push(`INSERT INTO ${q}.migrations (version) VALUES (${version});`);
  }
  lines.push("COMMIT;");
  return `${lines.join("\n")}\n`;
}

/** The schema version of `schema`: 0 when it has no waymark tables. Reads only. */
export async function postgresSchemaVersion(pool: PgPool, schema: string): Promise<number> {
  return (await readVersion(pool, quoteIdentifier(schema))) ?? 0;
}

/** Double-quotes an identifier that {@link validateSchemaName} already accepted. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Brings the schema up to date. A worker that finds it current reads one row and is done;
 * otherwise it migrates inside a transaction holding an advisory lock keyed by the schema, so
 * that twenty workers starting at once on an empty database migrate exactly once (the others
 * wait on the lock, then find the work done).
 */
export async function migratePostgres(
  pool: PgPool,
  schema: string,
  location: string,
): Promise<void> {
  const q = quoteIdentifier(schema);
  const current = await readVersion(pool, q);
  if (current !== null) {
    assertKnown(current, schema, location);
    if (current === POSTGRES_MIGRATIONS.length) return;
  }
  const client = await pool.connect();
  // A connection cut while the client is checked out emits "error" on it: without a listener
  // Node would crash the process. The query in flight rejects with the cause anyway.
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on?.("error", onError);
  try {
    await client.query("BEGIN");
    try {
      await migrateLocked(client, schema, location);
      await client.query("COMMIT");
    } catch (error) {
      // The first error is the one reported; a failed ROLLBACK only marks the client broken.
      if (!broken) {
        await client.query("ROLLBACK").catch((rollbackError: unknown) => {
          broken =
            rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
      }
      throw error;
    }
  } finally {
    client.removeListener?.("error", onError);
    client.release(broken);
  }
}

async function migrateLocked(
  client: PgPoolClient,
  schema: string,
  location: string,
): Promise<void> {
  const q = quoteIdentifier(schema);
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
    `waymark migrate ${schema}`,
  ]);
  // Checked before creating: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when
  // the schema exists, and a role granted only the schema should still start.
  const exists = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
  if (exists.rows.length === 0) await client.query(`CREATE SCHEMA ${q}`);
  await client.query(migrationsTable(q));
  const result = await client.query<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${q}.migrations`,
  );
  const current = result.rows[0]?.version ?? 0;
  assertKnown(current, schema, location);
  for (let version = current + 1; version <= POSTGRES_MIGRATIONS.length; version++) {
    const migration = POSTGRES_MIGRATIONS[version - 1] as (s: string) => readonly string[];
    for (const statement of migration(q)) await client.query(statement);
    await client.query(`INSERT INTO ${q}.migrations (version) VALUES ($1)`, [version]);
  }
}

/**
 * Checks, without creating or changing anything, that the schema holds a waymark store of
 * this version: `STORE_NOT_FOUND` when it is missing or older (only a writer migrates),
 * `STORE_INCOMPATIBLE` when it is newer than this waymark.
 */
export async function checkPostgresSchema(
  pool: PgPool,
  schema: string,
  location: string,
): Promise<void> {
  const current = await readVersion(pool, quoteIdentifier(schema));
  const latest = POSTGRES_MIGRATIONS.length;
  if (current === null || current === 0) {
    throw new StoreError(
      "STORE_NOT_FOUND",
      `No store at ${location}: there is no schema "${schema}" with waymark's tables. Check the ` +
        "URL and ?schema=, or create it with: waymark schema --apply",
      { location },
    );
  }
  assertKnown(current, schema, location);
  if (current < latest) {
    throw new StoreError(
      "STORE_NOT_FOUND",
      `The store at ${location} (schema "${schema}") has schema version ${current}; this waymark ` +
        `reads version ${latest}. Migrate it first: waymark schema --apply`,
      { location },
    );
  }
}

/** The recorded schema version, or null when the schema or its `migrations` table is missing. */
async function readVersion(pool: PgPool, q: string): Promise<number | null> {
  try {
    const result = await pool.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${q}.migrations`,
    );
    return result.rows[0]?.version ?? 0;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "42P01" || code === "3F000") return null;
    throw error;
  }
}

function assertKnown(version: number, schema: string, location: string): void {
  const latest = POSTGRES_MIGRATIONS.length;
  if (version <= latest) return;
  throw new StoreError(
    "STORE_INCOMPATIBLE",
    `The PostgreSQL store ${location} (schema "${schema}") has schema version ${version}, newer ` +
      `than this waymark understands (${latest}). Upgrade waymark on this worker, or use ` +
      "another schema (the `schema` option, or ?schema=NAME in the store URL).",
  );
}
