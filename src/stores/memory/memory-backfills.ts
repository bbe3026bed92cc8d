import { keyId } from "../../core/checkpoint-key.js";
import { FencedError } from "../../core/errors.js";
import type {
  BackfillOpen,
  BackfillRecord,
  BackfillStore,
  SplitAnswer,
  UnitListing,
} from "../../core/store/backfill-store.js";
import type {
  CheckpointFilter,
  RunRecord,
  SplitRecord,
  StoredBackfill,
  StoredCheckpoint,
  UnitCompletion,
} from "../../core/store/records.js";
import type { LeaseHandle } from "../../core/store/run-store.js";
import { fencedMessage } from "../../core/store/run-store.js";
import type { CheckpointKey } from "../../core/types.js";
import { finishedBackfill, openedBackfill } from "../backfill-records.js";

interface Backfill {
  partitions: number;
  startedAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

/** The maps of a `MemoryStore` its backfills read and write, keyed by `keyId(key)`. */
export interface MemoryTables {
  readonly checkpoints: Map<string, StoredCheckpoint>;
  readonly completions: ReadonlyMap<string, UnitCompletion>;
  readonly runs: ReadonlyMap<string, RunRecord>;
  readonly splits: SplitRecord[];
  /** Clears what a discarded checkpoint owned (its artifacts). */
  readonly discarded: (key: CheckpointKey) => void;
}

/** The backfills of a `MemoryStore`. */
export class MemoryBackfills implements BackfillStore {
  readonly #backfills = new Map<string, Backfill>();
  readonly #tables: MemoryTables;

  constructor(tables: MemoryTables) {
    this.#tables = tables;
  }

  async open(request: BackfillOpen): Promise<BackfillRecord> {
    const id = `${request.processor}\u0000${request.id}`;
    const prior = this.#backfills.get(id);
    const record = { processor: request.processor, id: request.id };
    const partitions = new Set(request.partitions);
    if (prior && !request.restart && !request.repeatFinished && prior.finishedAt !== null) {
      const finishedAt = prior.finishedAt;
      const runs = [...this.#tables.runs.values()].filter(
        (r) =>
          r.processor === request.processor &&
          partitions.has(r.partition) &&
          r.kind !== "redrive" &&
          r.status !== "busy" &&
          r.status !== "skipped" &&
          r.startedAt >= prior.startedAt &&
          r.startedAt <= finishedAt,
      ).length;
      return finishedBackfill(record, prior.startedAt, finishedAt, runs);
    }
    const mine = (key: CheckpointKey) =>
      key.processor === request.processor && partitions.has(key.partition);
    const active =
      prior !== undefined &&
      !request.restart &&
      prior.finishedAt === null &&
      (prior.updatedAt >= request.staleBefore ||
        [...this.#tables.checkpoints.values()].some(
          (c) => mine(c) && c.updatedAt >= request.staleBefore,
        ) ||
        [...this.#tables.completions.values()].some(
          (c) => mine(c) && c.completedAt >= request.staleBefore,
        ));
    const startedAt = active ? prior.startedAt : request.now;
    // A new backfill (not a rerun of this one) keeps what was active lately: another backfill
    // sharing the partition may be running it, and would lose the ranges it split off.
    const recentSince = request.restart ? null : request.staleBefore;
    const discarded = active ? 0 : this.#discardSplits(mine, request.now, recentSince);
    this.#backfills.set(id, {
      partitions: partitions.size,
      startedAt,
      updatedAt: request.now,
      finishedAt: null,
    });
    return openedBackfill(record, { active, startedAt, discarded, prior });
  }

  /**
   * A new backfill's start: the checkpoints of split partitions that no live lease holds go,
   * unless one of the partition's checkpoints was written at or after `recentSince`.
   */
  #discardSplits(
    mine: (key: CheckpointKey) => boolean,
    now: number,
    recentSince: number | null,
  ): number {
    const { checkpoints } = this.#tables;
    const rows = [...checkpoints.values()].filter(mine);
    const recent = new Set(
      rows
        .filter((c) => recentSince !== null && c.updatedAt >= recentSince)
        .map((c) => c.partition),
    );
    const split = new Set(
      rows
        .filter((c) => c.shard.startsWith("~") && !recent.has(c.partition))
        .map((c) => c.partition),
    );
    let discarded = 0;
    for (const [id, c] of checkpoints) {
      const live = c.leaseOwner !== null && (c.leaseExpiresAt ?? 0) > now;
      if (mine(c) && split.has(c.partition) && !live) {
        checkpoints.delete(id);
        this.#tables.discarded(c);
        discarded++;
      }
    }
    return discarded;
  }

  /** The read side's `listBackfills`: newest first, none finished before the work in flight. */
  list(filter: CheckpointFilter): StoredBackfill[] {
    const oldest = new Map<string, number>();
    for (const c of this.#tables.checkpoints.values()) {
      oldest.set(c.processor, Math.min(c.createdAt, oldest.get(c.processor) ?? c.createdAt));
    }
    return [...this.#backfills]
      .map(([key, b]) => {
        const [processor = "", id = ""] = key.split("\u0000");
        const { partitions, startedAt, finishedAt } = b;
        return { processor, id, partitions, startedAt, finishedAt };
      })
      .filter((b) => filter.processor === undefined || b.processor === filter.processor)
      .filter((b) => b.finishedAt === null || b.finishedAt >= (oldest.get(b.processor) ?? Infinity))
      .sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async finish(record: BackfillRecord, now: number): Promise<void> {
    const backfill = this.#backfills.get(`${record.processor}\u0000${record.id}`);
    if (backfill?.startedAt === record.startedAt && backfill.finishedAt === null) {
      backfill.finishedAt = now;
      backfill.updatedAt = now;
    }
  }

  async listUnits(
    processor: string,
    partitions: readonly string[] | null,
    since: number,
  ): Promise<UnitListing> {
    const wanted = partitions === null ? null : new Set(partitions);
    const mine = (key: CheckpointKey) =>
      key.processor === processor && (wanted === null || wanted.has(key.partition));
    return {
      checkpoints: [...this.#tables.checkpoints.values()].filter(mine),
      completions: [...this.#tables.completions.values()].filter(
        (c) => mine(c) && c.completedAt >= since,
      ),
    };
  }

  async requestSplit(key: CheckpointKey, by: string, now: number): Promise<boolean> {
    const row = this.#tables.checkpoints.get(keyId(key));
    if (!row?.leaseOwner || (row.leaseExpiresAt ?? 0) <= now) return false;
    if (row.splitRequest || row.splitNote !== null) return false;
    this.#tables.checkpoints.set(keyId(key), { ...row, splitRequest: { by, at: now } });
    return true;
  }

  async answerSplit(lease: LeaseHandle, answer: SplitAnswer, now: number): Promise<void> {
    const { checkpoints, splits } = this.#tables;
    const row = checkpoints.get(keyId(lease));
    if (!row || row.leaseOwner !== lease.owner || row.fence !== lease.fence) {
      throw new FencedError(fencedMessage(lease));
    }
    if (answer.kind === "decline") {
      checkpoints.set(keyId(lease), { ...row, splitRequest: null, splitNote: answer.note });
      return;
    }
    const to = row.range?.to ?? null;
    checkpoints.set(keyId(lease), {
      ...row,
      range: { from: row.range?.from ?? null, to: answer.at },
      splitRequest: null,
      splitNote: null,
    });
    const child = { ...lease, shard: answer.shard };
    if (checkpoints.has(keyId(child))) return; // the same split, written again
    checkpoints.set(keyId(child), {
      ...child,
      processorVersion: null,
      cursor: null,
      completed: 0,
      total: null,
      state: null,
      stateCodec: null,
      fingerprint: null,
      runId: null,
      leaseOwner: null,
      leaseExpiresAt: null,
      fence: 0,
      attempt: 0,
      createdAt: now,
      updatedAt: now,
      range: { from: answer.at, to },
      layout: row.layout ?? "",
      parent: lease.shard,
      splitRequest: null,
      splitNote: null,
    });
    splits.push({
      processor: lease.processor,
      partition: lease.partition,
      shard: lease.shard,
      newShard: answer.shard,
      at: answer.at,
      requestedBy: answer.requestedBy,
      runId: lease.runId,
      splitAt: now,
    });
  }
}
