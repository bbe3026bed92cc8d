import { checkpointKey } from "../../core/checkpoint-key.js";
import type {
  BackfillOpen,
  BackfillRecord,
  BackfillStore,
} from "../../core/store/backfill-store.js";
import type { CheckpointKey } from "../../core/types.js";

interface Backfill {
  startedAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

/**
 * The backfills of a `MemoryStore`. `completions` is the store's own map of last completions,
 * keyed by `keyId(key)`.
 */
export class MemoryBackfills implements BackfillStore {
  readonly #backfills = new Map<string, Backfill>();
  readonly #completions: ReadonlyMap<string, number>;

  constructor(completions: ReadonlyMap<string, number>) {
    this.#completions = completions;
  }

  async open(request: BackfillOpen): Promise<BackfillRecord> {
    const id = `${request.processor}\u0000${request.id}`;
    const prior = this.#backfills.get(id);
    const resumed =
      prior !== undefined &&
      prior.finishedAt === null &&
      prior.updatedAt >= request.staleBefore &&
      !request.restart;
    const startedAt = resumed ? prior.startedAt : request.now;
    this.#backfills.set(id, { startedAt, updatedAt: request.now, finishedAt: null });
    return { processor: request.processor, id: request.id, startedAt, resumed };
  }

  async completedSince(processor: string, since: number): Promise<CheckpointKey[]> {
    const keys: CheckpointKey[] = [];
    for (const [id, completedAt] of this.#completions) {
      const [name, partition, shard] = id.split("\u0000") as [string, string, string];
      if (name === processor && completedAt >= since)
        keys.push(checkpointKey(name, partition, shard));
    }
    return keys;
  }

  async finish(record: BackfillRecord, now: number): Promise<void> {
    const backfill = this.#backfills.get(`${record.processor}\u0000${record.id}`);
    if (backfill?.startedAt === record.startedAt) {
      backfill.finishedAt = now;
      backfill.updatedAt = now;
    }
  }
}
