import type { DeletedCheckpoint, PartitionReset } from "../core/store/records.js";

/** A partition's reset as every store reports it: shards in code-unit order. */
export function resetDone(
  checkpoints: readonly DeletedCheckpoint[],
  completions: readonly string[],
): PartitionReset {
  return {
    outcome: "reset",
    checkpoints: [...checkpoints].sort((a, b) => byCodeUnits(a.shard, b.shard)),
    completions: [...completions].sort(byCodeUnits),
  };
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
