import type { UnitListing } from "./store/backfill-store.js";
import type { StoredCheckpoint, UnitCompletion } from "./store/records.js";
import { isSplitOff, type RunUnit, sameSplit } from "./unit.js";

/** The key of a unit within one processor's backfill. */
export function unitKey(unit: { readonly partition: string; readonly shard: string }): string {
  return `${unit.partition}\u0000${unit.shard}`;
}

/**
 * A backfill as its store lists it at one moment: what is done, what is held, what a runner
 * may claim, and whether the whole backfill has completed. A snapshot only tells a runner
 * where to try; whether a unit still needs running is decided by its claim, under its lease.
 */
export interface BackfillView {
  /** Units completed since the backfill began (under the split they have now), by unit key. */
  readonly done: ReadonlyMap<string, UnitCompletion>;
  /** Static units completed since the backfill began under a split that gave them other bounds. */
  readonly drifted: ReadonlyMap<string, UnitCompletion>;
  /** Checkpoints held under a live lease, by unit key. */
  readonly held: ReadonlyMap<string, StoredCheckpoint>;
  /** Shards split off a running unit that nobody holds: claimable. */
  readonly splitOffs: readonly RunUnit[];
  /** Every partition completed: no checkpoint left, every static unit done. */
  readonly complete: boolean;
  /** The partitions not completed yet. */
  readonly open: ReadonlySet<string>;
}

/**
 * Reads a listing against the backfill's static units, at `now` (the store's clock). With
 * `units` null (a queue worker, which knows no list of partitions), every checkpoint listed
 * is the backfill's work.
 */
export function viewOf(
  listing: UnitListing,
  units: readonly RunUnit[] | null,
  now: number,
): BackfillView {
  const byKey = new Map((units ?? []).map((u) => [unitKey(u), u]));
  const done = new Map<string, UnitCompletion>();
  const drifted = new Map<string, UnitCompletion>();
  for (const completion of listing.completions) {
    const key = unitKey(completion);
    // Made under a split that gave the unit other bounds, it covered other ids: not done,
    // and its claim stops with SHARD_DRIFT.
    const unit = byKey.get(key);
    (unit && !sameSplit(unit, completion) ? drifted : done).set(key, completion);
  }
  const held = new Map<string, StoredCheckpoint>();
  const splitOffs: RunUnit[] = [];
  const open = new Set<string>();
  for (const row of listing.checkpoints) {
    // A row of a shard id the processor no longer has is no part of this backfill's work.
    if (units !== null && !byKey.has(unitKey(row)) && !isSplitOff(row.shard)) continue;
    open.add(row.partition);
    const live = row.leaseOwner !== null && (row.leaseExpiresAt ?? 0) > now;
    if (live) held.set(unitKey(row), row);
    else if (isSplitOff(row.shard)) splitOffs.push(splitOffUnit(row));
  }
  for (const unit of units ?? []) if (!done.has(unitKey(unit))) open.add(unit.partition);
  return { done, drifted, held, splitOffs, complete: open.size === 0, open };
}

/** A split-off shard as a unit to claim; its range is its checkpoint's. */
function splitOffUnit(row: StoredCheckpoint): RunUnit {
  return {
    partition: row.partition,
    shard: row.shard,
    definition: null,
    range: row.range ?? { from: null, to: null },
    layout: row.layout ?? "",
    splitOff: true,
  };
}

/**
 * The running unit an idle runner should ask to split: the held one with the most known work
 * left (total minus completed), then any held one of unknown size. Skipped: one with a request
 * pending, one whose holder declined (its range only shrinks, so asking again is no use), one
 * with less than `minimum` known entities left, and those in `exclude`.
 */
export function splitCandidate(
  view: BackfillView,
  minimum: number,
  exclude: ReadonlySet<string>,
): StoredCheckpoint | null {
  let best: StoredCheckpoint | null = null;
  let bestLeft = -1;
  let unknown: StoredCheckpoint | null = null;
  for (const [key, row] of view.held) {
    if (exclude.has(key) || row.splitRequest !== null || row.splitNote !== null) continue;
    // A unit claimed a moment ago has no total until its first commit: asking it first would
    // split a small partition while a large one runs on.
    if (row.total === null) {
      unknown ??= row;
      continue;
    }
    const left = row.total - row.completed;
    if (left < minimum) continue;
    if (left > bestLeft) [best, bestLeft] = [row, left];
  }
  return best ?? unknown;
}

/** Whether some running unit has a split request not yet answered: a shard may come soon. */
export function splitPending(view: BackfillView): boolean {
  for (const row of view.held.values()) if (row.splitRequest !== null) return true;
  return false;
}
