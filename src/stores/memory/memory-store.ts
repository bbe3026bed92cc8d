import { FencedError } from "../../core/errors.js";
import type { CheckpointKey, Cursor } from "../../core/types.js";
import type {
  AcquireRequest,
  AcquireResult,
  BatchScope,
  CheckpointStore,
  CheckpointWrite,
  FailureFilter,
  FailureWrite,
  LeaseHandle,
  RunFilter,
  RunRecord,
  StoredCheckpoint,
  StoredFailure,
} from "../store.js";
import { acquiredLease, fencedMessage } from "../store.js";
import { txEndedError } from "../store-errors.js";
import { MemoryArtifacts } from "./memory-artifacts.js";

/**
 * `ctx.tx` on a {@link MemoryStore}: effects staged during the batch and applied, in order,
 * in the same synchronous step as the checkpoint commit. A batch that fails applies none.
 */
export interface MemoryTx {
  /** Stages an effect to run when the batch commits. */
  run(effect: () => void): void;
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
  readonly kind = "memory";
  /** Blobs beside the checkpoints (`ctx.artifacts`), in this process. */
  readonly artifacts = new MemoryArtifacts();
  readonly #checkpoints = new Map<string, StoredCheckpoint>();
  readonly #runs = new Map<string, RunRecord>();
  readonly #completions = new Map<string, number>();
  readonly #failures = new Map<string, StoredFailure>();

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    const id = keyOf(request);
    const existing = this.#checkpoints.get(id);
    if (existing?.leaseOwner && (existing.leaseExpiresAt ?? 0) > request.now) {
      return {
        acquired: false,
        holder: { owner: existing.leaseOwner, expiresAt: existing.leaseExpiresAt ?? 0 },
      };
    }
    const base: StoredCheckpoint = existing ?? {
      processor: request.processor,
      partition: request.partition,
      processorVersion: null,
      cursor: null,
      completed: 0,
      total: null,
      state: null,
      fingerprint: null,
      runId: null,
      leaseOwner: null,
      leaseExpiresAt: null,
      fence: 0,
      attempt: 0,
      createdAt: request.now,
      updatedAt: request.now,
    };
    const checkpoint: StoredCheckpoint = {
      ...base,
      runId: request.runId,
      leaseOwner: request.owner,
      leaseExpiresAt: request.now + request.leaseTtlMs,
      fence: base.fence + 1,
      attempt: base.attempt + 1,
    };
    this.#checkpoints.set(id, checkpoint);
    return acquiredLease(request, checkpoint);
  }

  async renew(lease: LeaseHandle, leaseTtlMs: number, now: number): Promise<void> {
    const held = this.#held(lease);
    this.#checkpoints.set(keyOf(lease), { ...held, leaseExpiresAt: now + leaseTtlMs });
  }

  openBatch(lease: LeaseHandle): BatchScope<MemoryTx> {
    const effects: Array<() => void> = [];
    let ended = false;
    return {
      tx: {
        run: (effect) => {
          if (ended) throw txEndedError();
          effects.push(effect);
        },
      },
      commit: async (write: CheckpointWrite) => {
        ended = true;
        const held = this.#held(lease);
        if (write.artifacts?.length) this.artifacts.switchRefs(lease, write.artifacts);
        for (const effect of effects) effect();
        for (const failure of write.failures ?? []) this.#recordFailure(lease, failure, write.now);
        for (const cursor of write.resolvedFailures ?? [])
          this.#failures.delete(failureKey(lease, cursor));
        this.#checkpoints.set(keyOf(lease), {
          ...held,
          processorVersion: write.processorVersion,
          cursor: write.cursor,
          completed: write.completed,
          total: write.total,
          state: write.state,
          fingerprint: write.fingerprint,
          leaseExpiresAt: write.now + write.leaseTtlMs,
          updatedAt: write.now,
        });
      },
      rollback: async () => {
        ended = true;
        effects.length = 0;
      },
    };
  }

  async complete(lease: LeaseHandle, now: number): Promise<void> {
    this.#held(lease);
    this.#checkpoints.delete(keyOf(lease));
    this.artifacts.clearSync(lease);
    this.#completions.set(keyOf(lease), now);
  }

  async release(lease: LeaseHandle): Promise<void> {
    const current = this.#checkpoints.get(keyOf(lease));
    if (!current || current.leaseOwner !== lease.owner || current.fence !== lease.fence) return;
    this.#checkpoints.set(keyOf(lease), { ...current, leaseOwner: null, leaseExpiresAt: null });
  }

  async recordRun(run: RunRecord): Promise<void> {
    this.#runs.set(run.runId, { ...run });
  }

  async lastCompletedAt(key: CheckpointKey): Promise<number | null> {
    return this.#completions.get(keyOf(key)) ?? null;
  }

  async listCheckpoints(filter: { processor?: string } = {}): Promise<StoredCheckpoint[]> {
    return [...this.#checkpoints.values()]
      .filter((c) => filter.processor === undefined || c.processor === filter.processor)
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async getCheckpoint(key: CheckpointKey): Promise<StoredCheckpoint | null> {
    return this.#checkpoints.get(keyOf(key)) ?? null;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const runs = [...this.#runs.values()]
      .filter(
        (r) =>
          (filter.processor === undefined || r.processor === filter.processor) &&
          (filter.partition === undefined || r.partition === filter.partition) &&
          (filter.status === undefined || r.status === filter.status) &&
          (filter.since === undefined || r.startedAt >= filter.since),
      )
      .sort((a, b) => b.startedAt - a.startedAt);
    return filter.limit === undefined ? runs : runs.slice(0, filter.limit);
  }

  async deleteCheckpoint(
    key: CheckpointKey,
    options: { unlessLeasedAt?: number } = {},
  ): Promise<boolean> {
    const current = this.#checkpoints.get(keyOf(key));
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
    return this.#checkpoints.delete(keyOf(key));
  }

  async listFailures(filter: FailureFilter = {}): Promise<StoredFailure[]> {
    return [...this.#failures.values()]
      .filter(
        (f) =>
          (filter.processor === undefined || f.processor === filter.processor) &&
          (filter.partition === undefined || f.partition === filter.partition),
      )
      .sort(
        (a, b) =>
          byCodeUnits(a.processor, b.processor) ||
          byCodeUnits(a.partition, b.partition) ||
          a.firstFailedAt - b.firstFailedAt ||
          byCodeUnits(JSON.stringify(a.cursor), JSON.stringify(b.cursor)),
      );
  }

  async clearFailures(key: CheckpointKey, cursors: readonly Cursor[]): Promise<number> {
    let cleared = 0;
    for (const cursor of cursors) if (this.#failures.delete(failureKey(key, cursor))) cleared++;
    return cleared;
  }

  #recordFailure(lease: LeaseHandle, failure: FailureWrite, now: number): void {
    const id = failureKey(lease, failure.cursor);
    const previous = this.#failures.get(id);
    this.#failures.set(id, {
      processor: lease.processor,
      partition: lease.partition,
      cursor: failure.cursor,
      error: failure.error,
      attempts: (previous?.attempts ?? 0) + failure.attempts,
      firstFailedAt: previous?.firstFailedAt ?? now,
      lastFailedAt: now,
      runId: lease.runId,
    });
  }

  async deleteRuns(runIds: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const id of runIds) if (this.#runs.delete(id)) deleted++;
    return deleted;
  }

  async close(): Promise<void> {}

  /** The checkpoint, if `lease` still holds it; otherwise the runner has been fenced. */
  #held(lease: LeaseHandle): StoredCheckpoint {
    const current = this.#checkpoints.get(keyOf(lease));
    if (!current || current.leaseOwner !== lease.owner || current.fence !== lease.fence) {
      throw new FencedError(fencedMessage(lease));
    }
    return current;
  }
}

/** Orders strings as SQL's binary collation does. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function failureKey(key: CheckpointKey, cursor: Cursor): string {
  return `${keyOf(key)}\u0000${JSON.stringify(cursor)}`;
}

function keyOf(key: CheckpointKey): string {
  return `${key.processor}\u0000${key.partition}`;
}
