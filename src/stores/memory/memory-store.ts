import { keyId } from "../../core/checkpoint-key.js";
import { describeValue, FencedError } from "../../core/errors.js";
import type { CheckpointStore } from "../../core/store/checkpoint-store.js";
import type {
  CheckpointFilter,
  CheckpointScan,
  FailureFilter,
  PartitionReset,
  RunFilter,
  RunRecord,
  SplitFilter,
  SplitRecord,
  StoredBackfill,
  StoredCheckpoint,
  StoredFailure,
  UnitCompletion,
} from "../../core/store/records.js";
import type {
  AcquireRequest,
  AcquireResult,
  BatchScope,
  CheckpointWrite,
  FailureWrite,
  LeaseHandle,
  ReadBack,
} from "../../core/store/run-store.js";
import { abandonedRunError, acquiredLease, fencedMessage } from "../../core/store/run-store.js";
import type { CheckpointKey, Cursor } from "../../core/types.js";
import { closedStoreError, txEndedError, wrongTxError } from "../store-errors.js";
import { MemoryArtifacts } from "./memory-artifacts.js";
import { MemoryBackfills } from "./memory-backfills.js";
import { MemoryQuotas } from "./memory-quotas.js";
import {
  selectCheckpoints,
  selectCompletions,
  selectFailures,
  selectRuns,
  selectSplits,
} from "./memory-reads.js";
import { resetPartition } from "./memory-reset.js";

/**
 * `ctx.tx` on a {@link MemoryStore}: effects staged during the batch and applied, in order,
 * in the same synchronous step as the checkpoint commit. A batch that fails applies none.
 * An effect that throws fails the batch, as a failing statement does on the SQL stores: the
 * `undo` of each effect already applied runs, newest first, and the checkpoint stays.
 *
 * @example
 * ctx.tx.run(() => totals.set(id, n), () => totals.delete(id));
 */
export interface MemoryTx {
  /** Stages an effect to run when the batch commits; `undo` reverts it if the commit fails. */
  run(effect: () => void, undo?: () => void): void;
}

/**
 * A store that lives in this process's memory: for tests, demos and throwaway runs.
 * Nothing survives the process; use `SqliteStore` for anything that must resume.
 *
 * @example
 * const store = new MemoryStore();
 * await run(processor, { partition: "default", store });
 */
export class MemoryStore implements CheckpointStore<MemoryTx> {
  #closed = false;
  readonly kind = "memory";
  /** Blobs beside the checkpoints (`ctx.artifacts`), in this process. */
  readonly artifacts = new MemoryArtifacts();
  readonly #checkpoints = new Map<string, StoredCheckpoint>();
  readonly #runs = new Map<string, RunRecord>();
  /** The last completion of each key: when, by which run, what it covered. */
  readonly #completions = new Map<string, UnitCompletion>();
  readonly #splits: SplitRecord[] = [];
  /** Backfills begun and finished, for `runPartitions` and `waymark run`. */
  readonly backfills = new MemoryBackfills({
    checkpoints: this.#checkpoints,
    completions: this.#completions,
    runs: this.#runs,
    splits: this.#splits,
    discarded: (key) => this.artifacts.clearSync(key),
  });
  /** Shared rate limits (`quota`), for the runs on this store object. */
  readonly quotas = new MemoryQuotas(() => {
    if (this.#closed) throw closedStoreError("memory:");
  });
  readonly #failures = new Map<string, StoredFailure>();

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    if (this.#closed) throw closedStoreError("memory:");
    const id = keyId(request);
    const done = this.#completions.get(id);
    if (
      done &&
      request.completedSince !== undefined &&
      done.completedAt >= request.completedSince
    ) {
      return {
        acquired: false,
        completed: {
          at: done.completedAt,
          runId: done.runId,
          layout: done.layout,
          range: done.range,
        },
      };
    }
    const existing = this.#checkpoints.get(id);
    if (!existing && request.mustExist) return { acquired: false, absent: true };
    if (existing?.leaseOwner && (existing.leaseExpiresAt ?? 0) > request.now) {
      return {
        acquired: false,
        holder: { owner: existing.leaseOwner, expiresAt: existing.leaseExpiresAt ?? 0 },
      };
    }
    const base: StoredCheckpoint = existing ?? {
      processor: request.processor,
      partition: request.partition,
      shard: request.shard,
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
      createdAt: request.now,
      updatedAt: request.now,
      range: request.unit?.range ?? null,
      layout: request.unit?.layout ?? null,
      parent: null,
      splitRequest: null,
      splitNote: null,
    };
    const checkpoint: StoredCheckpoint = {
      ...base,
      // A row from before ranges were recorded takes the claim's range on its first claim.
      ...(base.layout === null && request.unit
        ? { range: request.unit.range, layout: request.unit.layout }
        : {}),
      runId: request.runId,
      leaseOwner: request.owner,
      leaseExpiresAt: request.now + request.leaseTtlMs,
      fence: base.fence + 1,
      attempt: base.attempt + (request.kind === "redrive" ? 0 : 1),
    };
    this.#checkpoints.set(id, checkpoint);
    if (existing) this.#abandon(existing, request.runId);
    // The lease is free or expired here: an owner still on it never released it.
    const expiredHolder = existing?.leaseOwner
      ? { owner: existing.leaseOwner, runId: existing.runId }
      : null;
    const { processor, partition, shard } = request;
    const open = selectFailures(this.#failures.values(), { processor, partition, shard });
    return acquiredLease(request, checkpoint, {
      ledger: open.map((f) => f.cursor),
      expiredHolder,
    });
  }

  /** The run that held `previous` and never recorded an outcome died where it last committed. */
  #abandon(previous: StoredCheckpoint, takenOverBy: string): void {
    const dead = previous.runId === null ? undefined : this.#runs.get(previous.runId);
    if (dead?.status !== "running") return;
    this.#runs.set(dead.runId, {
      ...dead,
      status: "failed",
      finishedAt: Math.max(previous.updatedAt, dead.startedAt),
      processed: Math.max(0, previous.completed - (dead.resumedFrom ?? 0)),
      error: abandonedRunError(takenOverBy),
    });
  }

  async renew(lease: LeaseHandle, leaseTtlMs: number, now: number): Promise<void> {
    const held = this.#held(lease);
    this.#checkpoints.set(keyId(lease), { ...held, leaseExpiresAt: now + leaseTtlMs });
  }

  openBatch(lease: LeaseHandle): BatchScope<MemoryTx> {
    const effects: Array<readonly [effect: () => void, undo?: () => void]> = [];
    let ended = false;
    return {
      tx: {
        run: (effect, undo) => {
          if (typeof effect !== "function" || (undo !== undefined && typeof undo !== "function")) {
            throw wrongTxError("memory", `ctx.tx.run got ${describeValue(effect)}`);
          }
          if (ended) throw txEndedError();
          effects.push([effect, undo]);
        },
      },
      commit: async (write: CheckpointWrite) => {
        ended = true;
        const held = this.#held(lease);
        const applied: Array<(() => void) | undefined> = [];
        try {
          for (const [effect, undo] of effects) {
            effect();
            applied.push(undo);
          }
          if (write.kind === "batch" && write.artifacts?.length) {
            this.artifacts.switchRefs(lease, write.artifacts);
          }
        } catch (error) {
          for (const undo of applied.reverse()) undo?.();
          throw error;
        }
        for (const failure of write.failures ?? []) this.#recordFailure(lease, failure, write.now);
        for (const cursor of write.resolvedFailures ?? []) {
          this.#resolveFailure(lease, cursor, write.now);
        }
        this.#checkpoints.set(
          keyId(lease),
          write.kind === "ledger"
            ? { ...held, leaseExpiresAt: write.now + write.leaseTtlMs }
            : {
                ...held,
                processorVersion: write.processorVersion,
                cursor: write.cursor,
                completed: write.completed,
                total: write.total,
                state: write.state,
                stateCodec: write.stateCodec,
                fingerprint: write.fingerprint,
                leaseExpiresAt: write.now + write.leaseTtlMs,
                updatedAt: write.now,
              },
        );
      },
      rollback: async () => {
        ended = true;
        effects.length = 0;
      },
    };
  }

  async complete(lease: LeaseHandle, now: number, run: RunRecord): Promise<void> {
    const held = this.#held(lease);
    this.#checkpoints.delete(keyId(lease));
    this.artifacts.clearSync(lease);
    this.#completions.set(keyId(lease), {
      processor: lease.processor,
      partition: lease.partition,
      shard: lease.shard,
      completedAt: now,
      runId: lease.runId,
      range: held.range,
      layout: held.layout,
      completed: held.completed,
      total: held.total,
    });
    this.#runs.set(run.runId, { ...run });
  }

  async readBack(key: CheckpointKey): Promise<ReadBack> {
    return {
      checkpoint: this.#checkpoints.get(keyId(key)) ?? null,
      completedBy: this.#completions.get(keyId(key))?.runId ?? null,
    };
  }

  async release(
    lease: LeaseHandle,
    _now: number,
    options: { discardEmpty?: boolean } = {},
  ): Promise<void> {
    const current = this.#checkpoints.get(keyId(lease));
    if (!current || current.leaseOwner !== lease.owner || current.fence !== lease.fence) return;
    if (options.discardEmpty && current.cursor === null) {
      this.#checkpoints.delete(keyId(lease));
      this.artifacts.clearSync(lease);
      return;
    }
    this.#checkpoints.set(keyId(lease), { ...current, leaseOwner: null, leaseExpiresAt: null });
  }

  async recordRun(run: RunRecord): Promise<void> {
    if (this.#runs.get(run.runId)?.status === "completed") return;
    this.#runs.set(run.runId, { ...run });
  }

  async lastCompletedAt(key: CheckpointKey): Promise<number | null> {
    return this.#completions.get(keyId(key))?.completedAt ?? null;
  }

  async listFailures(filter: FailureFilter = {}): Promise<StoredFailure[]> {
    return selectFailures(this.#failures.values(), filter);
  }

  async listCheckpoints(filter: CheckpointFilter = {}): Promise<StoredCheckpoint[]> {
    return selectCheckpoints(this.#checkpoints.values(), filter);
  }

  /** A memory store holds no corrupt rows: nothing outside the process can edit them. */
  async scanCheckpoints(filter: CheckpointFilter = {}): Promise<CheckpointScan> {
    return { checkpoints: await this.listCheckpoints(filter), corrupt: [] };
  }

  async getCheckpoint(key: CheckpointKey): Promise<StoredCheckpoint | null> {
    return this.#checkpoints.get(keyId(key)) ?? null;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return selectRuns(this.#runs.values(), filter);
  }

  async listCurrentRuns(filter: CheckpointFilter = {}): Promise<RunRecord[]> {
    const current = new Set(
      selectCheckpoints(this.#checkpoints.values(), filter).map((c) => c.runId),
    );
    return selectRuns(this.#runs.values(), {}).filter((r) => current.has(r.runId));
  }

  async listCompletions(filter: CheckpointFilter = {}): Promise<UnitCompletion[]> {
    return selectCompletions(this.#completions.values(), this.#checkpoints.values(), filter);
  }

  async listBackfills(filter: CheckpointFilter = {}): Promise<StoredBackfill[]> {
    return this.backfills.list(filter);
  }

  async listSplits(filter: SplitFilter = {}): Promise<SplitRecord[]> {
    return selectSplits(this.#splits, filter);
  }

  async resetPartition(processor: string, partition: string, now: number): Promise<PartitionReset> {
    const tables = {
      checkpoints: this.#checkpoints,
      completions: this.#completions,
      discarded: (key: CheckpointKey) => this.artifacts.clearSync(key),
    };
    return resetPartition(tables, processor, partition, now);
  }

  async deleteCheckpoint(
    key: CheckpointKey,
    options: { unlessLeasedAt?: number } = {},
  ): Promise<boolean> {
    const current = this.#checkpoints.get(keyId(key));
    if (!current) return false;
    const { unlessLeasedAt } = options;
    if (
      unlessLeasedAt !== undefined &&
      current.leaseOwner !== null &&
      (current.leaseExpiresAt ?? 0) > unlessLeasedAt
    ) {
      return false;
    }
    this.artifacts.clearSync(key);
    return this.#checkpoints.delete(keyId(key));
  }

  /** Refuses later runs with `STORE_CLOSED`, as the other stores do; the data stays readable. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #recordFailure(lease: LeaseHandle, failure: FailureWrite, now: number): void {
    const id = failureId(lease, failure.cursor);
    const previous = this.#failures.get(id);
    this.#failures.set(id, {
      processor: lease.processor,
      partition: lease.partition,
      shard: lease.shard,
      cursor: failure.cursor,
      error: failure.error,
      attempts: (previous?.attempts ?? 0) + failure.attempts,
      firstFailedAt: previous?.firstFailedAt ?? now,
      lastFailedAt: now,
      runId: lease.runId,
      resolvedAt: null,
      resolvedBy: null,
    });
  }

  #resolveFailure(lease: LeaseHandle, cursor: Cursor, now: number): void {
    const id = failureId(lease, cursor);
    const open = this.#failures.get(id);
    if (open?.resolvedAt !== null) return;
    this.#failures.set(id, { ...open, resolvedAt: now, resolvedBy: lease.runId });
  }

  /** The checkpoint, if `lease` still holds it; otherwise the runner has been fenced. */
  #held(lease: LeaseHandle): StoredCheckpoint {
    if (this.#closed) throw closedStoreError("memory:");
    const current = this.#checkpoints.get(keyId(lease));
    if (!current || current.leaseOwner !== lease.owner || current.fence !== lease.fence) {
      throw new FencedError(fencedMessage(lease));
    }
    return current;
  }
}

function failureId(key: CheckpointKey, cursor: Cursor): string {
  return `${keyId(key)}\u0000${JSON.stringify(cursor)}`;
}
