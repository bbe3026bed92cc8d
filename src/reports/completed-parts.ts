import { keyId } from "../core/checkpoint-key.js";
import type { StoredBackfill, StoredCheckpoint, UnitCompletion } from "../core/store/records.js";

/** One processor's partition, for maps. */
export function partitionId(key: { processor: string; partition: string }): string {
  return JSON.stringify([key.processor, key.partition]);
}

/**
 * The parts of each partition in flight that are already done: the completions of its other
 * shards (static, split off, or the whole partition's first part) that belong to the work its
 * checkpoints are part of, by {@link partitionId}.
 *
 * That work began with the backfill its oldest checkpoint was made in: the latest backfill of
 * the processor begun by then and not finished before. Without one (a partition run by
 * `run()` or a queue), it began when its oldest checkpoint was made. A completion older than
 * that is of earlier work; so is one made under another static split (a `layout` none of its
 * checkpoints has), and one of a shard that has a checkpoint now (it is being run again).
 */
export function completedParts(
  checkpoints: readonly StoredCheckpoint[],
  completions: readonly UnitCompletion[],
  backfills: readonly StoredBackfill[],
): Map<string, UnitCompletion[]> {
  const inFlight = new Map<string, StoredCheckpoint[]>();
  for (const c of checkpoints) {
    const group = inFlight.get(partitionId(c));
    if (group) group.push(c);
    else inFlight.set(partitionId(c), [c]);
  }
  const running = new Set(checkpoints.map(keyId));
  const began = new Map<string, number>();
  const parts = new Map<string, UnitCompletion[]>();
  for (const done of completions) {
    const group = inFlight.get(partitionId(done));
    if (!group || running.has(keyId(done))) continue;
    const layouts = new Set(group.map((c) => c.layout).filter((l) => l !== null));
    if (done.layout !== null && layouts.size > 0 && !layouts.has(done.layout)) continue;
    const since = began.get(partitionId(done)) ?? workBegan(group, backfills);
    began.set(partitionId(done), since);
    if (done.completedAt < since) continue;
    const found = parts.get(partitionId(done));
    if (found) found.push(done);
    else parts.set(partitionId(done), [done]);
  }
  return parts;
}

/** When the work a partition's checkpoints are part of began. */
function workBegan(
  group: readonly StoredCheckpoint[],
  backfills: readonly StoredBackfill[],
): number {
  const processor = group[0]?.processor;
  const oldest = Math.min(...group.map((c) => c.createdAt));
  let began: number | null = null;
  for (const b of backfills) {
    if (b.processor !== processor || b.startedAt > oldest) continue;
    if (b.finishedAt !== null && b.finishedAt < oldest) continue;
    if (began === null || b.startedAt > began) began = b.startedAt;
  }
  return began ?? oldest;
}
