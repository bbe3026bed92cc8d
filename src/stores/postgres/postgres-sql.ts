import { createHash } from "node:crypto";
import type { RunRecord } from "../../core/store/records.js";
import type { BatchCommit, LeaseHandle } from "../../core/store/run-store.js";
import type { CheckpointKey } from "../../core/types.js";
import { cursorJson, fenceOf } from "../sql-rows.js";

/** A statement's text, and its prepared-statement name when it has one. */
export interface PgStatement {
  readonly text: string;
  readonly name?: string;
}

/**
 * The run side's statements, built once per store for its quoted schema `s`. Values are
 * always parameters. Fenced statements end with `$n..$n+4` = processor, partition, shard,
 * lease owner, fence, so a runner whose lease was taken over changes nothing.
 */
export function postgresSql(s: string): Record<StatementName, PgStatement> {
  const texts: Record<StatementName, string> = {
    // One statement: create the row, or take a free or expired lease with a higher fence.
    // A live lease makes the WHERE false, so nothing is returned and nothing changes.
    // Takes the lease and, in the same statement, records the run that held it and never
    // recorded an outcome as failed where it last committed. `before` reads the statement's
    // snapshot: a commit racing with it renews the lease, and then the upsert takes nothing.
    // The key's open ledger entries come back with the lease, so a run with none asks nothing.
    // Expiry is judged by the store's clock (the server's, unless the runner's is passed).
    // Run in a transaction that holds the key's lock (see `keyLockId`), so that a completion
    // committed just before is in its snapshot: "done since the backfill began" (`done`) and
    // "a split-off shard that must exist" (`before`) are decided with the lease, atomically.
    // A row from before ranges were recorded takes the claim's range on its first claim.
    acquire: `WITH before AS (
                SELECT run_id, completed, updated_at, lease_owner FROM ${s}.checkpoints
                WHERE processor = $1 AND partition = $2 AND shard = $3
              ), done AS (
                SELECT completed_at, run_id, layout, range_from, range_to FROM ${s}.completions
                WHERE processor = $1 AND partition = $2 AND shard = $3
                  AND completed_at >= $10::bigint
              ), taken AS (
                INSERT INTO ${s}.checkpoints AS c (processor, partition, shard, run_id,
                  lease_owner, lease_expires_at, fence, attempt, created_at, updated_at,
                  range_from, range_to, layout)
                SELECT $1, $2, $3, $4, $5, ${storeNow(7)} + $6::bigint, 1, $9::integer,
                  ${storeNow(7)}, ${storeNow(7)}, $12::text, $13::text, $14::text
                WHERE NOT EXISTS (SELECT 1 FROM done)
                  AND (NOT $11::boolean OR EXISTS (SELECT 1 FROM before))
                ON CONFLICT (processor, partition, shard) DO UPDATE SET
                  run_id = EXCLUDED.run_id, lease_owner = EXCLUDED.lease_owner,
                  lease_expires_at = EXCLUDED.lease_expires_at,
                  fence = c.fence + 1, attempt = c.attempt + $9::integer,
                  range_from = CASE WHEN c.layout IS NULL THEN EXCLUDED.range_from
                    ELSE c.range_from END,
                  range_to = CASE WHEN c.layout IS NULL THEN EXCLUDED.range_to
                    ELSE c.range_to END,
                  layout = COALESCE(c.layout, EXCLUDED.layout)
                WHERE c.lease_owner IS NULL OR c.lease_expires_at IS NULL
                   OR c.lease_expires_at <= ${storeNow(7)}
                RETURNING *
              ), abandoned AS (
                UPDATE ${s}.runs AS r SET status = 'failed',
                  finished_at = GREATEST(before.updated_at, r.started_at),
                  processed = GREATEST(0, before.completed - COALESCE(r.resumed_from, 0)),
                  error = $8
                FROM before, taken
                WHERE r.run_id = before.run_id AND r.status = 'running'
              )
              SELECT taken.*, ${storeNow(7)} AS store_now,
                (SELECT completed_at FROM done) AS done_at,
                (SELECT run_id FROM done) AS done_by,
                (SELECT layout FROM done) AS done_layout,
                (SELECT range_from FROM done) AS done_from,
                (SELECT range_to FROM done) AS done_to,
                EXISTS (SELECT 1 FROM before) AS existed,
                (SELECT lease_owner FROM before) AS expired_owner,
                (SELECT run_id FROM before) AS expired_run_id,
                (SELECT array_agg(f.cursor) FROM ${s}.failures f
                 WHERE f.processor = $1 AND f.partition = $2 AND f.shard = $3
                   AND f.resolved_at IS NULL) AS ledger
              FROM (SELECT 1) AS one LEFT JOIN taken ON true`,
    holder: `SELECT lease_owner, lease_expires_at, ${storeNow(4)} AS store_now
             FROM ${s}.checkpoints
             WHERE processor = $1 AND partition = $2 AND shard = $3`,
    renew: `UPDATE ${s}.checkpoints SET lease_expires_at = ${storeNow(2)} + $1::bigint
            WHERE ${fenced(3)}`,
    commit: `UPDATE ${s}.checkpoints SET processor_version = $1, cursor = $2, completed = $3,
               total = $4, state = $5, fingerprint = $6,
               lease_expires_at = ${storeNow(8)} + $7::bigint, updated_at = ${storeNow(8)},
               state_codec = $9
             WHERE ${fenced(10)}`,
    // `commit` for several runs at once (group commit): one statement, one round trip. Each
    // parameter is an array with one element per commit, in `commit`'s order; the ordinals
    // returned are the commits that landed, a missing one was fenced.
    commitGroup: `UPDATE ${s}.checkpoints AS c SET processor_version = v.processor_version,
                    cursor = v.cursor, completed = v.completed, total = v.total,
                    state = v.state, fingerprint = v.fingerprint,
                    lease_expires_at = ${groupNow} + v.lease_ttl_ms,
                    updated_at = ${groupNow}, state_codec = v.state_codec
                  FROM unnest($1::integer[], $2::text[], $3::bigint[], $4::bigint[],
                    $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[],
                    $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[])
                    WITH ORDINALITY AS v(processor_version, cursor, completed, total, state,
                      fingerprint, lease_ttl_ms, now, state_codec, processor, partition, shard,
                      lease_owner, fence, ordinal)
                  WHERE c.processor = v.processor AND c.partition = v.partition
                    AND c.shard = v.shard AND c.lease_owner = v.lease_owner
                    AND c.fence = v.fence
                  RETURNING v.ordinal`,
    // Clearing the checkpoint, remembering the completion and its run, and recording the run
    // as completed: one atomic statement, so history agrees with the completion.
    complete: `WITH done AS (
                 DELETE FROM ${s}.checkpoints WHERE ${fenced(1)}
                 RETURNING processor, partition, shard, range_from, range_to, layout, completed,
                   total
               ), history AS (
                 INSERT INTO ${s}.runs AS r (${RUN_COLUMNS})
                 SELECT $7::text, processor, partition, shard, $8::text, $9::bigint,
                   $10::bigint, $11::bigint, $12::bigint, $13::bigint, $14::integer,
                   $15::double precision, $16::integer, $17::text, $18::text, $19::text,
                   $20::bigint
                 FROM done
                 ON CONFLICT (run_id) DO UPDATE SET ${RUN_UPDATE}
               )
               INSERT INTO ${s}.completions (processor, partition, shard, completed_at, run_id,
                 range_from, range_to, layout, completed, total)
               SELECT processor, partition, shard, ${storeNow(6)}, $7, range_from, range_to,
                 layout, completed, total FROM done
               ON CONFLICT (processor, partition, shard) DO UPDATE SET
                 completed_at = EXCLUDED.completed_at, run_id = EXCLUDED.run_id,
                 range_from = EXCLUDED.range_from, range_to = EXCLUDED.range_to,
                 layout = EXCLUDED.layout, completed = EXCLUDED.completed,
                 total = EXCLUDED.total`,
    // The checkpoint (as JSON, null when there is none) and the run of the last completion.
    readBack: `SELECT to_jsonb(c) AS checkpoint, m.run_id AS completed_by
               FROM (SELECT 1) AS one
               LEFT JOIN ${s}.checkpoints c
                 ON c.processor = $1 AND c.partition = $2 AND c.shard = $3
               LEFT JOIN ${s}.completions m
                 ON m.processor = $1 AND m.partition = $2 AND m.shard = $3`,
    release: `UPDATE ${s}.checkpoints SET lease_owner = NULL, lease_expires_at = NULL
              WHERE ${fenced(1)}`,
    discardEmpty: `DELETE FROM ${s}.checkpoints WHERE ${fenced(1)} AND cursor IS NULL`,
    // A row the completion wrote as `completed` stays so (see RunStore.recordRun).
    recordRun: `INSERT INTO ${s}.runs AS r (${RUN_COLUMNS})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                  $17)
                ON CONFLICT (run_id) DO UPDATE SET ${RUN_UPDATE}
                WHERE r.status <> 'completed'`,
    lastCompletedAt: `SELECT completed_at FROM ${s}.completions
                      WHERE processor = $1 AND partition = $2 AND shard = $3`,
  };
  const statements = {} as Record<StatementName, PgStatement>;
  for (const [key, text] of Object.entries(texts) as Array<[StatementName, string]>) {
    statements[key] = PREPARED.has(key) ? { text, name: preparedName(text) } : { text };
  }
  return statements;
}

/** The server's time at the start of the statement, in epoch ms. */
const SERVER_NOW = "(extract(epoch from statement_timestamp()) * 1000)::bigint";

/**
 * The store's clock in epoch ms: the runner's `now` passed as `$n`, or, when `$n` is null
 * (the `"server"` clock), the server's time at the start of the statement.
 */
export function storeNow(n: number): string {
  return `COALESCE($${n}::bigint, ${SERVER_NOW})`;
}

/** `storeNow` of one row of `commitGroup`: its runner's `now`, or the server's clock. */
const groupNow = `COALESCE(v.now, ${SERVER_NOW})`;

/** The parameters of `commit`: the runner's `now` is null when the server's clock decides. */
export function pgCommitValues(
  write: BatchCommit,
  lease: LeaseHandle,
  now: number | null,
): unknown[] {
  return [
    write.processorVersion,
    cursorJson(write.cursor),
    write.completed,
    write.total,
    write.state,
    write.fingerprint,
    write.leaseTtlMs,
    now,
    write.stateCodec,
    ...fenceOf(lease),
  ];
}

/**
 * The advisory lock of one checkpoint key, taken by acquire and complete (see `acquire`): a
 * 64-bit digest of the schema and the key, as an SQL literal. Other users of advisory locks in
 * the same database (pg-boss) would have to hit the same 64 bits to wait on it.
 */
export function keyLockId(schema: string, key: CheckpointKey): string {
  const digest = createHash("sha256")
    .update(JSON.stringify(["waymark", schema, key.processor, key.partition, key.shard]))
    .digest();
  return digest.readBigInt64BE(0).toString();
}

/** The columns of `runs`, in the order of {@link runValues}. */
const RUN_COLUMNS = `run_id, processor, partition, shard, status, started_at, finished_at,
  resumed_from, processed, total, batches, checkpoint_ms, attempt, reason, error, kind, skipped`;

/** What an upsert of a `runs` row replaces. */
const RUN_UPDATE = `processor = EXCLUDED.processor, partition = EXCLUDED.partition,
  shard = EXCLUDED.shard, status = EXCLUDED.status, started_at = EXCLUDED.started_at,
  finished_at = EXCLUDED.finished_at, resumed_from = EXCLUDED.resumed_from,
  processed = EXCLUDED.processed, total = EXCLUDED.total, batches = EXCLUDED.batches,
  checkpoint_ms = EXCLUDED.checkpoint_ms, attempt = EXCLUDED.attempt,
  reason = EXCLUDED.reason, error = EXCLUDED.error, kind = EXCLUDED.kind,
  skipped = EXCLUDED.skipped`;

/** The WHERE of a fenced statement whose parameters start at `$first`. */
function fenced(first: number): string {
  return (
    `processor = $${first} AND partition = $${first + 1} AND shard = $${first + 2} ` +
    `AND lease_owner = $${first + 3} AND fence = $${first + 4}`
  );
}

/** The statements by name. */
export type StatementName =
  | "acquire"
  | "holder"
  | "renew"
  | "commit"
  | "commitGroup"
  | "complete"
  | "release"
  | "discardEmpty"
  | "recordRun"
  | "readBack"
  | "lastCompletedAt";

/**
 * The statements run for every batch or run, prepared once per connection. Only ones that
 * return no `*` columns: a prepared `SELECT *` fails after a migration adds a column.
 */
const PREPARED = new Set<StatementName>([
  "renew",
  "commit",
  "commitGroup",
  "complete",
  "release",
  "recordRun",
]);

/** Names follow the text (which includes the schema), so two stores on one pool never clash. */
function preparedName(text: string): string {
  return `waymark_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`;
}

/** The parameters of `recordRun`, in its column order. */
export function runValues(run: RunRecord): unknown[] {
  return [
    run.runId,
    run.processor,
    run.partition,
    run.shard,
    run.status,
    run.startedAt,
    run.finishedAt,
    run.resumedFrom,
    run.processed,
    run.total,
    run.batches,
    run.checkpointMs,
    run.attempt,
    run.reason,
    run.error,
    run.kind ?? "run",
    run.skipped ?? 0,
  ];
}
