import { StoreError } from "../../core/errors.js";
import { splitLegacyShardKey } from "../legacy-shard-key.js";
import type { SqliteDatabase } from "./sqlite-driver.js";

/**
 * Numbered migrations, applied in order. The schema version lives in `PRAGMA user_version`.
 * Append new entries; never edit one that has shipped.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: checkpoints, run history, last completion per partition.
  `CREATE TABLE checkpoints (
     processor          TEXT    NOT NULL,
     partition          TEXT    NOT NULL,
     processor_version  INTEGER,
     cursor             TEXT,
     completed          INTEGER NOT NULL DEFAULT 0,
     total              INTEGER,
     state              TEXT,
     fingerprint        TEXT,
     run_id             TEXT,
     lease_owner        TEXT,
     lease_expires_at   INTEGER,
     fence              INTEGER NOT NULL DEFAULT 0,
     attempt            INTEGER NOT NULL DEFAULT 0,
     created_at         INTEGER NOT NULL,
     updated_at         INTEGER NOT NULL,
     PRIMARY KEY (processor, partition)
   ) WITHOUT ROWID;
   CREATE TABLE runs (
     run_id         TEXT    PRIMARY KEY,
     processor      TEXT    NOT NULL,
     partition      TEXT    NOT NULL,
     status         TEXT    NOT NULL,
     started_at     INTEGER NOT NULL,
     finished_at    INTEGER,
     resumed_from   INTEGER,
     processed      INTEGER NOT NULL,
     total          INTEGER,
     batches        INTEGER NOT NULL,
     checkpoint_ms  REAL    NOT NULL,
     attempt        INTEGER NOT NULL,
     reason         TEXT,
     error          TEXT
   );
   CREATE INDEX runs_by_started_at ON runs (started_at);
   CREATE INDEX runs_by_processor ON runs (processor, partition, started_at);
   CREATE TABLE completions (
     processor     TEXT    NOT NULL,
     partition     TEXT    NOT NULL,
     completed_at  INTEGER NOT NULL,
     PRIMARY KEY (processor, partition)
   ) WITHOUT ROWID;`,
  // 2: the failure ledger: entities skipped after every attempt failed, for redrive.
  `CREATE TABLE failures (
     processor        TEXT    NOT NULL,
     partition        TEXT    NOT NULL,
     cursor           TEXT    NOT NULL,
     error            TEXT    NOT NULL,
     attempts         INTEGER NOT NULL,
     first_failed_at  INTEGER NOT NULL,
     last_failed_at   INTEGER NOT NULL,
     run_id           TEXT    NOT NULL,
     PRIMARY KEY (processor, partition, cursor)
   ) WITHOUT ROWID;`,
  // Artifacts. Ordering note: this is migration 3; the failure ledger's migration is 2 and
  // goes before it. It depends on nothing but migration 1.
  // Blobs are written chunk by chunk before any commit references them; `artifacts` holds
  // the references a checkpoint commit switches. Chunks stay in a rowid table because
  // WITHOUT ROWID tables suit small rows, not 1 MiB blobs.
  `CREATE TABLE artifact_blobs (
     blob_id     TEXT    PRIMARY KEY,
     processor   TEXT    NOT NULL,
     partition   TEXT    NOT NULL,
     hash        TEXT,
     size        INTEGER,
     chunks      INTEGER,
     created_at  INTEGER NOT NULL
   );
   CREATE INDEX artifact_blobs_by_key ON artifact_blobs (processor, partition);
   CREATE TABLE artifact_chunks (
     blob_id  TEXT    NOT NULL,
     seq      INTEGER NOT NULL,
     data     BLOB    NOT NULL,
     PRIMARY KEY (blob_id, seq)
   );
   CREATE TABLE artifacts (
     processor   TEXT    NOT NULL,
     partition   TEXT    NOT NULL,
     name        TEXT    NOT NULL,
     blob_id     TEXT    NOT NULL,
     hash        TEXT    NOT NULL,
     size        INTEGER NOT NULL,
     chunks      INTEGER NOT NULL,
     created_at  INTEGER NOT NULL,
     PRIMARY KEY (processor, partition, name)
   ) WITHOUT ROWID;
   CREATE INDEX artifacts_by_blob ON artifacts (blob_id);`,
  // 4: shards get a column of their own (`''` is the whole partition) and join every key.
  // Old `partition#id` keys are split by the rule in legacy-shard-key.ts. Tables whose
  // primary key changes are rebuilt: SQLite cannot alter a primary key.
  `CREATE TABLE checkpoints_v4 (
     processor          TEXT    NOT NULL,
     partition          TEXT    NOT NULL,
     shard              TEXT    NOT NULL DEFAULT '',
     processor_version  INTEGER,
     cursor             TEXT,
     completed          INTEGER NOT NULL DEFAULT 0,
     total              INTEGER,
     state              TEXT,
     fingerprint        TEXT,
     run_id             TEXT,
     lease_owner        TEXT,
     lease_expires_at   INTEGER,
     fence              INTEGER NOT NULL DEFAULT 0,
     attempt            INTEGER NOT NULL DEFAULT 0,
     created_at         INTEGER NOT NULL,
     updated_at         INTEGER NOT NULL,
     PRIMARY KEY (processor, partition, shard)
   ) WITHOUT ROWID;
   INSERT INTO checkpoints_v4
     SELECT processor, waymark_partition_of(partition), waymark_shard_of(partition),
            processor_version, cursor, completed, total, state, fingerprint, run_id,
            lease_owner, lease_expires_at, fence, attempt, created_at, updated_at
     FROM checkpoints;
   DROP TABLE checkpoints;
   ALTER TABLE checkpoints_v4 RENAME TO checkpoints;

   CREATE TABLE completions_v4 (
     processor     TEXT    NOT NULL,
     partition     TEXT    NOT NULL,
     shard         TEXT    NOT NULL DEFAULT '',
     completed_at  INTEGER NOT NULL,
     PRIMARY KEY (processor, partition, shard)
   ) WITHOUT ROWID;
   INSERT INTO completions_v4
     SELECT processor, waymark_partition_of(partition), waymark_shard_of(partition), completed_at
     FROM completions;
   DROP TABLE completions;
   ALTER TABLE completions_v4 RENAME TO completions;

   CREATE TABLE failures_v4 (
     processor        TEXT    NOT NULL,
     partition        TEXT    NOT NULL,
     shard            TEXT    NOT NULL DEFAULT '',
     cursor           TEXT    NOT NULL,
     error            TEXT    NOT NULL,
     attempts         INTEGER NOT NULL,
     first_failed_at  INTEGER NOT NULL,
     last_failed_at   INTEGER NOT NULL,
     run_id           TEXT    NOT NULL,
     PRIMARY KEY (processor, partition, shard, cursor)
   ) WITHOUT ROWID;
   INSERT INTO failures_v4
     SELECT processor, waymark_partition_of(partition), waymark_shard_of(partition), cursor,
            error, attempts, first_failed_at, last_failed_at, run_id
     FROM failures;
   DROP TABLE failures;
   ALTER TABLE failures_v4 RENAME TO failures;

   CREATE TABLE artifacts_v4 (
     processor   TEXT    NOT NULL,
     partition   TEXT    NOT NULL,
     shard       TEXT    NOT NULL DEFAULT '',
     name        TEXT    NOT NULL,
     blob_id     TEXT    NOT NULL,
     hash        TEXT    NOT NULL,
     size        INTEGER NOT NULL,
     chunks      INTEGER NOT NULL,
     created_at  INTEGER NOT NULL,
     PRIMARY KEY (processor, partition, shard, name)
   ) WITHOUT ROWID;
   INSERT INTO artifacts_v4
     SELECT processor, waymark_partition_of(partition), waymark_shard_of(partition), name,
            blob_id, hash, size, chunks, created_at
     FROM artifacts;
   DROP TABLE artifacts;
   ALTER TABLE artifacts_v4 RENAME TO artifacts;
   CREATE INDEX artifacts_by_blob ON artifacts (blob_id);

   ALTER TABLE artifact_blobs ADD COLUMN shard TEXT NOT NULL DEFAULT '';
   UPDATE artifact_blobs SET shard = waymark_shard_of(partition),
     partition = waymark_partition_of(partition) WHERE waymark_shard_of(partition) <> '';
   DROP INDEX artifact_blobs_by_key;
   CREATE INDEX artifact_blobs_by_key ON artifact_blobs (processor, partition, shard);

   ALTER TABLE runs ADD COLUMN shard TEXT NOT NULL DEFAULT '';
   UPDATE runs SET shard = waymark_shard_of(partition),
     partition = waymark_partition_of(partition) WHERE waymark_shard_of(partition) <> '';
   DROP INDEX runs_by_processor;
   CREATE INDEX runs_by_processor ON runs (processor, partition, shard, started_at);`,
  // 5: backfills, so that rerunning one does not run again what it completed since it began.
  `CREATE TABLE backfills (
     processor    TEXT    NOT NULL,
     backfill_id  TEXT    NOT NULL,
     partitions   INTEGER NOT NULL,
     started_at   INTEGER NOT NULL,
     updated_at   INTEGER NOT NULL,
     finished_at  INTEGER,
     PRIMARY KEY (processor, backfill_id)
   ) WITHOUT ROWID;
   CREATE INDEX completions_by_time ON completions (processor, completed_at);`,
  // 6: the run that completed each key, so that a completion whose reply was lost is found.
  "ALTER TABLE completions ADD COLUMN run_id TEXT;",
  // 7: the name of the codec that wrote a checkpoint's state (NULL: JSON, from before).
  `ALTER TABLE checkpoints ADD COLUMN state_codec TEXT;`,
  // 8: what a history row records: a run, or a redrive of the failure ledger.
  `ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';`,
  // 9: elastic backfills. A checkpoint stores the range it covers (a split narrows it), the
  // digest of the static split it was made under, the shard it was split from, and a pending
  // split request; a completion keeps what it covered; history keeps every split.
  `ALTER TABLE checkpoints ADD COLUMN range_from TEXT;
   ALTER TABLE checkpoints ADD COLUMN range_to TEXT;
   ALTER TABLE checkpoints ADD COLUMN layout TEXT;
   ALTER TABLE checkpoints ADD COLUMN parent TEXT;
   ALTER TABLE checkpoints ADD COLUMN split_requested_by TEXT;
   ALTER TABLE checkpoints ADD COLUMN split_requested_at INTEGER;
   ALTER TABLE checkpoints ADD COLUMN split_note TEXT;
   ALTER TABLE completions ADD COLUMN range_from TEXT;
   ALTER TABLE completions ADD COLUMN range_to TEXT;
   ALTER TABLE completions ADD COLUMN layout TEXT;
   ALTER TABLE completions ADD COLUMN completed INTEGER;
   ALTER TABLE completions ADD COLUMN total INTEGER;
   CREATE TABLE splits (
     processor     TEXT    NOT NULL,
     partition     TEXT    NOT NULL,
     shard         TEXT    NOT NULL,
     new_shard     TEXT    NOT NULL,
     at_cursor     TEXT    NOT NULL,
     requested_by  TEXT,
     run_id        TEXT    NOT NULL,
     split_at      INTEGER NOT NULL,
     PRIMARY KEY (processor, partition, new_shard)
   ) WITHOUT ROWID;`,
  // 10: a ledger entry is resolved, not deleted, once a later commit processes its entity.
  `ALTER TABLE failures ADD COLUMN resolved_at INTEGER;
   ALTER TABLE failures ADD COLUMN resolved_by TEXT;`,
  // 11: entities a run skipped to the failure ledger.
  "ALTER TABLE runs ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;",
  // 12: shared quotas, one row per key: its definition, its token schedule (`tat`, when the
  // last reserved token has its turn), its pause, and its use over the last two minutes.
  `CREATE TABLE quotas (
     key                TEXT    PRIMARY KEY,
     quota_limit        REAL    NOT NULL,
     per_ms             REAL    NOT NULL,
     burst              REAL    NOT NULL,
     adaptive           INTEGER NOT NULL,
     rate               REAL    NOT NULL,
     rate_changed_at    INTEGER NOT NULL,
     tat                REAL    NOT NULL,
     paused_until       REAL    NOT NULL DEFAULT 0,
     pauses             INTEGER NOT NULL DEFAULT 0,
     last_pause_at      INTEGER,
     taken              REAL    NOT NULL DEFAULT 0,
     minute_start       INTEGER NOT NULL,
     minute_taken       REAL    NOT NULL DEFAULT 0,
     prev_minute_taken  REAL    NOT NULL DEFAULT 0,
     waiting            TEXT    NOT NULL DEFAULT '{}',
     updated_at         INTEGER NOT NULL
   ) WITHOUT ROWID;`,
];

/**
 * The SQL of a current waymark store in SQLite, for review or for creating one with the
 * sqlite3 shell: the schema a fresh store ends up with (taken from one migrated in memory),
 * then its version. A store opened on the result finds it current and changes nothing.
 */
export function sqliteSchemaDdl(db: SqliteDatabase): string {
  migrateSqlite(db, ":memory:");
  const objects = db
    .prepare(
      `SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
       ORDER BY type = 'index', rowid`,
    )
    .all() as Array<{ sql: string }>;
  return [
    `-- waymark's tables in SQLite: schema version ${SQLITE_MIGRATIONS.length}`,
    "PRAGMA journal_mode = WAL;",
    "BEGIN;",
    ...objects.map((o) => `${o.sql};`),
    `PRAGMA user_version = ${SQLITE_MIGRATIONS.length};`,
    "COMMIT;",
    "",
  ].join("\n");
}

/** The schema version of a SQLite store's file: 0 when it has no waymark tables. Reads only. */
export function sqliteSchemaVersion(db: SqliteDatabase): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/**
 * Checks, without changing anything, that `file` holds a waymark store of this version:
 * `STORE_NOT_FOUND` when it has no waymark schema or an older one (which only a writer may
 * migrate), `STORE_INCOMPATIBLE` when it is newer than this waymark.
 */
export function checkSqliteSchema(db: SqliteDatabase, file: string): void {
  const latest = SQLITE_MIGRATIONS.length;
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > latest) throw newerSchema(file, current, latest);
  if (current === 0) {
    throw new StoreError(
      "STORE_NOT_FOUND",
      `No store at ${file}: the file is not a waymark store (it has no waymark tables). ` +
        "Check the path.",
      { location: file },
    );
  }
  if (current < latest) {
    throw new StoreError(
      "STORE_NOT_FOUND",
      `The store at ${file} has schema version ${current}; this waymark reads version ` +
        `${latest}. Migrate it first: waymark schema --apply --store sqlite:${file}`,
      { location: file },
    );
  }
}

function newerSchema(file: string, current: number, latest: number): StoreError {
  return new StoreError(
    "STORE_INCOMPATIBLE",
    `The SQLite store ${file} has schema version ${current}, newer than this waymark ` +
      `understands (${latest}). Upgrade waymark, or point --store at another file.`,
  );
}

/**
 * Brings the schema up to date. `BEGIN IMMEDIATE` takes the write lock before reading the
 * version, so that several processes opening one file at once migrate exactly once.
 */
export function migrateSqlite(db: SqliteDatabase, file: string): void {
  const latest = SQLITE_MIGRATIONS.length;
  // Migration 4 splits old `partition#id` keys with these.
  db.function("waymark_partition_of", { deterministic: true }, (key) =>
    typeof key === "string" ? splitLegacyShardKey(key).partition : key,
  );
  db.function("waymark_shard_of", { deterministic: true }, (key) =>
    typeof key === "string" ? splitLegacyShardKey(key).shard : "",
  );
  db.exec("BEGIN IMMEDIATE");
  try {
    const current = db.pragma("user_version", { simple: true }) as number;
    if (current > latest) throw newerSchema(file, current, latest);
    for (let version = current + 1; version <= latest; version++) {
      db.exec(SQLITE_MIGRATIONS[version - 1] as string);
      db.pragma(`user_version = ${version}`);
    }
    db.exec("COMMIT");
  } catch (error) {
    // SQLite may have rolled back already (an I/O error does): then ROLLBACK itself would
    // throw "no transaction is active" and hide the real cause.
    if (db.inTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // The first error is the one to report.
      }
    }
    throw error;
  }
}
