import type { CheckpointKey } from "./types.js";

/** The shard of a checkpoint that covers its whole partition. */
export const WHOLE_PARTITION = "";

/**
 * A checkpoint key; `shard` is the shard's id as text (`""` for the whole partition), so that
 * shard `1` and shard `"1"` are one checkpoint.
 */
export function checkpointKey(
  processor: string,
  partition: string,
  shard: string | number = WHOLE_PARTITION,
): CheckpointKey {
  return { processor, partition, shard: String(shard) };
}

/** `players/2024-01-15`, or `players/2024-01-15 shard 0`: how messages name a checkpoint. */
export function describeKey(key: CheckpointKey): string {
  const base = `${key.processor}/${key.partition}`;
  return key.shard === WHOLE_PARTITION ? base : `${base} shard ${key.shard}`;
}

/** The command that forgets this checkpoint, for messages that tell an operator what to do. */
export function resetCommand(key: CheckpointKey): string {
  const shard = key.shard === WHOLE_PARTITION ? "" : ` --shard ${key.shard}`;
  return `waymark reset ${key.processor} ${key.partition}${shard}`;
}

/** Whether two keys name the same checkpoint. */
export function sameKey(a: CheckpointKey, b: CheckpointKey): boolean {
  return a.processor === b.processor && a.partition === b.partition && a.shard === b.shard;
}

/** One string per checkpoint key, for maps and sets. */
export function keyId(key: CheckpointKey): string {
  return `${key.processor}\u0000${key.partition}\u0000${key.shard}`;
}
