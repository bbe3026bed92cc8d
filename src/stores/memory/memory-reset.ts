import type { PartitionReset, StoredCheckpoint, UnitCompletion } from "../../core/store/records.js";
import type { CheckpointKey } from "../../core/types.js";
import { resetDone } from "../partition-reset.js";

/** The maps of a `MemoryStore` a partition's reset changes, keyed by `keyId(key)`. */
export interface ResetTables {
  readonly checkpoints: Map<string, StoredCheckpoint>;
  readonly completions: Map<string, UnitCompletion>;
  /** Clears what a deleted checkpoint owned (its artifacts). */
  readonly discarded: (key: CheckpointKey) => void;
}

/**
 * Starts a partition over: every checkpoint of it goes, with its artifacts, and so do its
 * completions; nothing goes while a runner holds a live lease on one of its checkpoints.
 */
export function resetPartition(
  tables: ResetTables,
  processor: string,
  partition: string,
  now: number,
): PartitionReset {
  const ofIt = (key: CheckpointKey) => key.processor === processor && key.partition === partition;
  const checkpoints = [...tables.checkpoints].filter(([, c]) => ofIt(c));
  const held = checkpoints.find(([, c]) => c.leaseOwner !== null && (c.leaseExpiresAt ?? 0) > now);
  if (held) return { outcome: "leased", shard: held[1].shard, owner: held[1].leaseOwner ?? "" };
  for (const [id, c] of checkpoints) {
    tables.checkpoints.delete(id);
    tables.discarded(c);
  }
  const completions = [...tables.completions].filter(([, c]) => ofIt(c));
  for (const [id] of completions) tables.completions.delete(id);
  return resetDone(
    checkpoints.map(([, c]) => ({ shard: c.shard, completed: c.completed, total: c.total })),
    completions.map(([, c]) => c.shard),
  );
}
