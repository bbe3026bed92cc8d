import { createHash } from "node:crypto";
import type { RunRecord } from "../../core/store/records.js";
import type { BatchCommit, LeaseHandle } from "../../core/store/run-store.js";
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
    // Expiry is judged by the store's clock (the server's, unless the runner's is passed).
    acquire: `WITH before AS (
                SELECT run_id, completed, updated_at FROM ${s}.checkpoints
                WHERE processor = $1 AND partition = $2 AND shard = $3
              ), taken AS (
                INSERT INTO ${s}.checkpoints AS c (processor, partition, shard, run_id,
                  lease_owner, lease_expires_at, fence, attempt, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, ${storeNow(7)} + $6::bigint, 1, $9::integer,
                  ${storeNow(7)}, ${storeNow(7)})
                ON CONFLICT (processor, partition, shard) DO UPDATE SET
                  run_id = EXCLUDED.run_id, lease_owner = EXCLUDED.lease_owner,
                  lease_expires_at = EXCLUDED.lease_expires_at,
                  fence = c.fence + 1, attempt = c.attempt + $9::integer
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
              SELECT *, ${storeNow(7)} AS store_now FROM taken`,
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
                 RETURNING processor, partition, shard
               ), history AS (
                 INSERT INTO ${s}.runs AS r (${RUN_COLUMNS})
                 SELECT $7::text, processor, partition, shard, $8::text, $9::bigint,
                   $10::bigint, $11::bigint, $12::bigint, $13::bigint, $14::integer,
                   $15::double precision, $16::integer, $17::text, $18::text, $19::text,
                   $20::bigint
                 FROM done
                 ON CONFLICT (run_id) DO UPDATE SET ${RUN_UPDATE}
               )
               INSERT INTO ${s}.completions (processor, partition, shard, completed_at, run_id)
               SELECT processor, partition, shard, $6, $7 FROM done
               ON CONFLICT (processor, partition, shard) DO UPDATE SET
                 completed_at = EXCLUDED.completed_at, run_id = EXCLUDED.run_id`,
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
