import { FencedError } from "../../core/errors.js";
import type {
  BackfillOpen,
  BackfillRecord,
  BackfillStore,
  SplitAnswer,
  UnitListing,
} from "../../core/store/backfill-store.js";
import type { LeaseHandle } from "../../core/store/run-store.js";
import { fencedMessage } from "../../core/store/run-store.js";
import type { CheckpointKey } from "../../core/types.js";
import {
  type CheckpointRow,
  type CompletionRow,
  cursorJson,
  fenceOf,
  keyOf,
  toCheckpoint,
  toCompletion,
} from "../sql-rows.js";
import type { PgResult, PgRow } from "./postgres-pool.js";
import { storeNow } from "./postgres-sql.js";

type Query = <R extends PgRow>(text: string, values: unknown[]) => Promise<PgResult<R>>;

/**
 * The backfills of a `PostgresStore`, in its `backfills` table; `s` is the quoted schema.
 * Times follow the store's clock (the server's unless the runner's is passed as `now`), as
 * completions do: a backfill's start and its partitions' completions compare on one clock.
 */
export class PostgresBackfills implements BackfillStore {
  readonly #query: Query;
  readonly #now: (now: number) => number | null;
  readonly #discarded: (key: CheckpointKey) => Promise<void>;
  readonly #open: string;
  readonly #finish: string;
  readonly #listCheckpoints: string;
  readonly #listCompletions: string;
  readonly #requestSplit: string;
  readonly #decline: string;
  readonly #split: string;

  /** `discarded` clears what a discarded checkpoint owned (its artifacts). */
  constructor(
    s: string,
    query: Query,
    now: (now: number) => number | null,
    discarded: (key: CheckpointKey) => Promise<void>,
  ) {
    this.#query = query;
    this.#now = now;
    this.#discarded = discarded;
    // One statement: `prior` sees the row as it was before the upsert changes it. A finished
    // backfill is returned as it is; an unfinished one active lately (opened, or a commit or
    // completion of one of its partitions) is resumed; else a new one begins.
    this.#open = `WITH prior AS (
        SELECT started_at, updated_at, finished_at FROM ${s}.backfills
        WHERE processor = $1 AND backfill_id = $2 AND NOT $6::boolean
      ), finished AS (
        SELECT started_at, finished_at, (
          SELECT count(*) FROM ${s}.runs r
          WHERE r.processor = $1 AND r.kind = 'run' AND r.status NOT IN ('busy', 'skipped')
            AND r.started_at BETWEEN prior.started_at AND prior.finished_at
            AND r.partition = ANY ($3::text[])
        ) AS runs
        FROM prior WHERE finished_at IS NOT NULL AND NOT $7::boolean
      ), active AS (
        SELECT started_at FROM prior WHERE finished_at IS NULL AND (updated_at >= $5
          OR EXISTS (SELECT 1 FROM ${s}.checkpoints WHERE processor = $1
                     AND partition = ANY ($3::text[]) AND updated_at >= $5)
          OR EXISTS (SELECT 1 FROM ${s}.completions WHERE processor = $1
                     AND partition = ANY ($3::text[]) AND completed_at >= $5))
      ), upserted AS (
        INSERT INTO ${s}.backfills AS b (processor, backfill_id, partitions, started_at, updated_at)
        SELECT $1, $2, cardinality($3::text[]),
          COALESCE((SELECT started_at FROM active), ${storeNow(4)}), ${storeNow(4)}
        WHERE NOT EXISTS (SELECT 1 FROM finished)
        ON CONFLICT (processor, backfill_id) DO UPDATE SET partitions = EXCLUDED.partitions,
          started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at, finished_at = NULL
        RETURNING started_at
      ), discarded AS (
        DELETE FROM ${s}.checkpoints AS c
        WHERE NOT EXISTS (SELECT 1 FROM finished) AND NOT EXISTS (SELECT 1 FROM active)
          AND c.processor = $1 AND c.partition = ANY ($3::text[])
          AND (c.lease_owner IS NULL OR c.lease_expires_at <= ${storeNow(4)})
          AND c.partition IN (SELECT partition FROM ${s}.checkpoints
                              WHERE processor = $1 AND shard LIKE '~%'
                                AND partition = ANY ($3::text[]))
          AND ($6::boolean OR c.partition NOT IN (SELECT partition FROM ${s}.checkpoints
                              WHERE processor = $1 AND updated_at >= $5
                                AND partition = ANY ($3::text[])))
        RETURNING c.partition, c.shard
      )
      SELECT started_at, EXISTS (SELECT 1 FROM active) AS resumed, NULL::bigint AS finished_at,
        NULL::bigint AS runs,
        (SELECT json_agg(json_build_array(partition, shard)) FROM discarded) AS discarded,
        (SELECT started_at FROM prior WHERE finished_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM active)) AS replaced
      FROM upserted
      UNION ALL
      SELECT started_at, true, finished_at, runs, NULL, NULL FROM finished`;
    this.#finish = `UPDATE ${s}.backfills SET finished_at = ${storeNow(4)},
        updated_at = ${storeNow(4)}
      WHERE processor = $1 AND backfill_id = $2 AND started_at = $3 AND finished_at IS NULL`;
    this.#listCheckpoints = `SELECT * FROM ${s}.checkpoints
      WHERE processor = $1 AND ($2::text[] IS NULL OR partition = ANY ($2::text[]))`;
    this.#listCompletions = `SELECT * FROM ${s}.completions
      WHERE processor = $1 AND ($2::text[] IS NULL OR partition = ANY ($2::text[]))
        AND completed_at >= $3`;
    this.#requestSplit = `UPDATE ${s}.checkpoints
      SET split_requested_by = $4, split_requested_at = ${storeNow(5)}
      WHERE processor = $1 AND partition = $2 AND shard = $3 AND lease_owner IS NOT NULL
        AND lease_expires_at > ${storeNow(5)} AND split_requested_by IS NULL
        AND split_note IS NULL`;
    const fenced =
      "processor = $1 AND partition = $2 AND shard = $3 AND lease_owner = $4 AND fence = $5";
    this.#decline = `UPDATE ${s}.checkpoints SET split_requested_by = NULL,
        split_requested_at = NULL, split_note = $6
      WHERE ${fenced}`;
    // One statement: the holder's range ends at the split point, the new shard takes the rest
    // (written again after a lost reply, the same split changes nothing more), and history
    // records it. Nothing happens unless the holder's fenced row is there.
    this.#split = `WITH holder AS (
        UPDATE ${s}.checkpoints AS c SET range_to = $6, split_requested_by = NULL,
          split_requested_at = NULL, split_note = NULL
        FROM ${s}.checkpoints AS old
        WHERE c.processor = $1 AND c.partition = $2 AND c.shard = $3 AND c.lease_owner = $4
          AND c.fence = $5 AND old.processor = c.processor AND old.partition = c.partition
          AND old.shard = c.shard
        RETURNING old.range_to AS old_to, c.layout
      ), child AS (
        INSERT INTO ${s}.checkpoints (processor, partition, shard, completed, fence, attempt,
          created_at, updated_at, range_from, range_to, layout, parent)
        SELECT $1, $2, $7, 0, 0, 0, ${storeNow(10)}, ${storeNow(10)}, $6, old_to,
          COALESCE(layout, ''), $3
        FROM holder
        ON CONFLICT DO NOTHING
      ), history AS (
        INSERT INTO ${s}.splits (processor, partition, shard, new_shard, at_cursor,
          requested_by, run_id, split_at)
        SELECT $1, $2, $3, $7, $6, $8, $9, ${storeNow(10)} FROM holder
        ON CONFLICT DO NOTHING
      )
      SELECT count(*)::int AS held FROM holder`;
  }

  async open(request: BackfillOpen): Promise<BackfillRecord> {
    const result = await this.#query<{
      started_at: string;
      resumed: boolean;
      finished_at: string | null;
      runs: string | null;
      discarded: Array<[string, string]> | null;
      replaced: string | null;
    }>(this.#open, [
      request.processor,
      request.id,
      request.partitions,
      this.#now(request.now),
      request.staleBefore,
      request.restart,
      request.repeatFinished,
    ]);
    const row = result.rows[0] as NonNullable<(typeof result.rows)[number]>;
    const discarded = row.discarded ?? [];
    for (const [partition, shard] of discarded) {
      // A separate statement: if it is lost, the blobs are garbage that `gc` clears.
      await this.#discarded({ processor: request.processor, partition, shard });
    }
    return {
      processor: request.processor,
      id: request.id,
      startedAt: Number(row.started_at),
      resumed: row.resumed,
      finishedAt: row.finished_at === null ? null : Number(row.finished_at),
      runs: row.runs === null ? null : Number(row.runs),
      discarded: discarded.length,
      replaced: row.replaced === null ? null : Number(row.replaced),
    };
  }

  async finish(record: BackfillRecord, now: number): Promise<void> {
    await this.#query(this.#finish, [
      record.processor,
      record.id,
      record.startedAt,
      this.#now(now),
    ]);
  }

  async listUnits(
    processor: string,
    partitions: readonly string[] | null,
    since: number,
  ): Promise<UnitListing> {
    const [checkpoints, completions] = await Promise.all([
      this.#query<CheckpointRow>(this.#listCheckpoints, [processor, partitions]),
      this.#query<CompletionRow>(this.#listCompletions, [processor, partitions, since]),
    ]);
    return {
      checkpoints: checkpoints.rows.map(toCheckpoint),
      completions: completions.rows.map(toCompletion),
    };
  }

  async requestSplit(key: CheckpointKey, by: string, now: number): Promise<boolean> {
    const result = await this.#query(this.#requestSplit, [...keyOf(key), by, this.#now(now)]);
    return (result.rowCount ?? 0) > 0;
  }

  async answerSplit(lease: LeaseHandle, answer: SplitAnswer, now: number): Promise<void> {
    if (answer.kind === "decline") {
      const result = await this.#query(this.#decline, [...fenceOf(lease), answer.note]);
      if ((result.rowCount ?? 0) === 0) throw new FencedError(fencedMessage(lease));
      return;
    }
    const result = await this.#query<{ held: number }>(this.#split, [
      ...fenceOf(lease),
      cursorJson(answer.at),
      answer.shard,
      answer.requestedBy,
      lease.runId,
      this.#now(now),
    ]);
    if (result.rows[0]?.held !== 1) throw new FencedError(fencedMessage(lease));
  }
}
