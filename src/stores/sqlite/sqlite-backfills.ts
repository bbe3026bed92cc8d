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
import { finishedBackfill, openedBackfill } from "../backfill-records.js";
import {
  type CheckpointRow,
  type CompletionRow,
  cursorJson,
  fenceOf,
  keyOf,
  toCheckpoint,
  toCompletion,
} from "../sql-rows.js";
import type { SqliteDatabase } from "./sqlite-driver.js";
import type { SqliteGuard, SqliteStatements } from "./sqlite-statements.js";

/** The WHERE of a fenced statement; its parameters are `fenceOf(lease)`. */
const FENCED = "processor = ? AND partition = ? AND shard = ? AND lease_owner = ? AND fence = ?";
/** The partitions of a backfill, passed as one JSON array. */
const IN_PARTITIONS = "partition IN (SELECT value FROM json_each(?))";

/** The backfills of a `SqliteStore`, in its `backfills` table. */
export class SqliteBackfills implements BackfillStore {
  readonly #database: SqliteDatabase;
  readonly #statements: SqliteStatements;
  readonly #guard: SqliteGuard;
  readonly #discarded: (key: CheckpointKey) => void;

  /** `discarded` clears what a discarded checkpoint owned (its artifacts). */
  constructor(
    database: SqliteDatabase,
    statements: SqliteStatements,
    guard: SqliteGuard,
    discarded: (key: CheckpointKey) => void,
  ) {
    this.#database = database;
    this.#statements = statements;
    this.#guard = guard;
    this.#discarded = discarded;
  }

  async open(request: BackfillOpen): Promise<BackfillRecord> {
    return this.#guard(() =>
      this.#database.transaction((): BackfillRecord => this.#open(request)).immediate(),
    );
  }

  #open(request: BackfillOpen): BackfillRecord {
    const { processor, id, now } = request;
    const partitions = JSON.stringify(request.partitions);
    const prior = this.#sql(
      "SELECT started_at, updated_at, finished_at FROM backfills WHERE processor = ? AND backfill_id = ?",
    ).get(processor, id) as
      | { started_at: number; updated_at: number; finished_at: number | null }
      | undefined;
    const record = { processor, id };
    if (prior && !request.restart && !request.repeatFinished && prior.finished_at !== null) {
      const { runs } = this.#sql(
        `SELECT count(*) AS runs FROM runs WHERE processor = ? AND kind = 'run'
           AND status NOT IN ('busy', 'skipped') AND started_at BETWEEN ? AND ?
           AND ${IN_PARTITIONS}`,
      ).get(processor, prior.started_at, prior.finished_at, partitions) as { runs: number };
      return finishedBackfill(record, prior.started_at, prior.finished_at, runs);
    }
    // Active lately: opened, or one of its partitions committed or completed.
    const active =
      prior !== undefined &&
      !request.restart &&
      prior.finished_at === null &&
      (prior.updated_at >= request.staleBefore ||
        this.#sql(
          `SELECT 1 FROM checkpoints WHERE processor = ? AND updated_at >= ? AND ${IN_PARTITIONS}
           UNION ALL
           SELECT 1 FROM completions WHERE processor = ? AND completed_at >= ? AND ${IN_PARTITIONS}
           LIMIT 1`,
        ).get(
          processor,
          request.staleBefore,
          partitions,
          processor,
          request.staleBefore,
          partitions,
        ) !== undefined);
    const startedAt = active ? prior.started_at : now;
    // A new backfill (not a rerun of this one) keeps what was active lately: another backfill
    // sharing the partition may be running it, and would lose the ranges it split off.
    const recentSince = request.restart ? null : request.staleBefore;
    const discarded = active ? 0 : this.#discardSplits(processor, partitions, now, recentSince);
    this.#sql(
      `INSERT INTO backfills (processor, backfill_id, partitions, started_at, updated_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (processor, backfill_id) DO UPDATE SET partitions = excluded.partitions,
         started_at = excluded.started_at, updated_at = excluded.updated_at, finished_at = NULL`,
    ).run(processor, id, request.partitions.length, startedAt, now);
    const found = prior && { startedAt: prior.started_at, finishedAt: prior.finished_at };
    return openedBackfill(record, { active, startedAt, discarded, prior: found });
  }

  /**
   * A new backfill's start: the checkpoints of split partitions that no live lease holds go,
   * unless one of the partition's checkpoints was written at or after `recentSince`.
   */
  #discardSplits(
    processor: string,
    partitions: string,
    now: number,
    recentSince: number | null,
  ): number {
    const gone = this.#sql(
      `DELETE FROM checkpoints
       WHERE processor = ? AND ${IN_PARTITIONS}
         AND (lease_owner IS NULL OR lease_expires_at <= ?)
         AND partition IN (SELECT partition FROM checkpoints
                           WHERE processor = ? AND shard LIKE '~%' AND ${IN_PARTITIONS})
         AND partition NOT IN (SELECT partition FROM checkpoints
                               WHERE processor = ? AND updated_at >= ? AND ${IN_PARTITIONS})
       RETURNING processor, partition, shard`,
    ).all(
      processor,
      partitions,
      now,
      processor,
      partitions,
      processor,
      recentSince ?? Number.MAX_SAFE_INTEGER,
      partitions,
    ) as CheckpointKey[];
    for (const key of gone) this.#discarded(key);
    return gone.length;
  }

  async finish(record: BackfillRecord, now: number): Promise<void> {
    this.#guard(() =>
      this.#sql(
        `UPDATE backfills SET finished_at = ?, updated_at = ?
         WHERE processor = ? AND backfill_id = ? AND started_at = ? AND finished_at IS NULL`,
      ).run(now, now, record.processor, record.id, record.startedAt),
    );
  }

  async listUnits(
    processor: string,
    partitions: readonly string[] | null,
    since: number,
  ): Promise<UnitListing> {
    const list = partitions === null ? null : JSON.stringify(partitions);
    const anyOf = "(? IS NULL OR partition IN (SELECT value FROM json_each(?)))";
    return this.#guard(() => {
      const rows = this.#sql(`SELECT * FROM checkpoints WHERE processor = ? AND ${anyOf}`).all(
        processor,
        list,
        list,
      ) as CheckpointRow[];
      const completions = this.#sql(
        `SELECT * FROM completions WHERE processor = ? AND ${anyOf} AND completed_at >= ?`,
      ).all(processor, list, list, since) as CompletionRow[];
      return { checkpoints: rows.map(toCheckpoint), completions: completions.map(toCompletion) };
    });
  }

  async requestSplit(key: CheckpointKey, by: string, now: number): Promise<boolean> {
    return this.#guard(() => {
      const { changes } = this.#sql(
        `UPDATE checkpoints SET split_requested_by = ?, split_requested_at = ?
         WHERE processor = ? AND partition = ? AND shard = ? AND lease_owner IS NOT NULL
           AND lease_expires_at > ? AND split_requested_by IS NULL AND split_note IS NULL`,
      ).run(by, now, ...keyOf(key), now);
      return changes > 0;
    });
  }

  async answerSplit(lease: LeaseHandle, answer: SplitAnswer, now: number): Promise<void> {
    this.#guard(() =>
      this.#database.transaction(() => this.#answer(lease, answer, now)).immediate(),
    );
  }

  #answer(lease: LeaseHandle, answer: SplitAnswer, now: number): void {
    const row = this.#sql(`SELECT * FROM checkpoints WHERE ${FENCED}`).get(...fenceOf(lease)) as
      | CheckpointRow
      | undefined;
    if (!row) throw new FencedError(fencedMessage(lease));
    if (answer.kind === "decline") {
      this.#sql(
        `UPDATE checkpoints SET split_requested_by = NULL, split_requested_at = NULL,
           split_note = ? WHERE ${FENCED}`,
      ).run(answer.note, ...fenceOf(lease));
      return;
    }
    const at = cursorJson(answer.at);
    this.#sql(
      `UPDATE checkpoints SET range_to = ?, split_requested_by = NULL, split_requested_at = NULL,
         split_note = NULL WHERE ${FENCED}`,
    ).run(at, ...fenceOf(lease));
    // Written again after a lost reply, the same split changes nothing more.
    this.#sql(
      `INSERT INTO checkpoints (processor, partition, shard, completed, fence, attempt,
         created_at, updated_at, range_from, range_to, layout, parent)
       VALUES (?, ?, ?, 0, 0, 0, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).run(
      lease.processor,
      lease.partition,
      answer.shard,
      now,
      now,
      at,
      row.range_to ?? null,
      row.layout ?? "",
      lease.shard,
    );
    this.#sql(
      `INSERT INTO splits (processor, partition, shard, new_shard, at_cursor, requested_by,
         run_id, split_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).run(...keyOf(lease), answer.shard, at, answer.requestedBy, lease.runId, now);
  }

  #sql(sql: string) {
    return this.#statements.get(sql);
  }
}
