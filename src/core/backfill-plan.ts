import { createHash } from "node:crypto";
import type { PartitionUnit } from "./run-partitions-options.js";
import type { BackfillRecord } from "./store/backfill-store.js";
import type { GuardedStore } from "./store/guarded-store.js";
import type { Logger } from "./types.js";

/** What a backfill starts from: its record, and the runs already done for it. */
export interface BackfillPlan {
  /** Null when the store keeps no backfills or there is a single partition. */
  readonly record: BackfillRecord | null;
  /** Indexes (into the units) of the partitions that completed since the backfill began. */
  readonly done: ReadonlySet<number>;
}

/**
 * Opens the backfill of `units` in the store's backfill records and finds which of them completed since
 * it began: those a rerun of an unfinished backfill does not run again. A backfill is named by
 * its processor, version and partitions, so the same command names the same backfill, and a
 * new version of the processor begins a new one.
 */
export async function planBackfill(
  store: GuardedStore,
  processor: { readonly name: string; readonly version: number; readonly expiryMs: number },
  units: readonly PartitionUnit[],
  options: { readonly now: number; readonly restart: boolean; readonly logger: Logger },
): Promise<BackfillPlan> {
  if (!store.keepsBackfills || units.length < 2) return { record: null, done: new Set() };
  const request = {
    processor: processor.name,
    id: backfillId(processor, units),
    partitions: units.length,
    now: options.now,
    // Its checkpoints expire after expiryMs without a commit; so does the backfill.
    staleBefore: options.now - processor.expiryMs,
  };
  if (options.restart) {
    // Only to say what the restart redoes: the unfinished backfill's completed partitions.
    const unfinished = await store.openBackfill({ ...request, restart: false });
    if (unfinished?.resumed) {
      const redone = await completedUnits(store, processor.name, unfinished.startedAt, units);
      options.logger.warn(
        `Starting the backfill of ${processor.name} over (rerunCompleted, --rerun-completed): ` +
          `${redone.size} of ${units.length} that completed since it began ` +
          `${new Date(unfinished.startedAt).toISOString()} run again from the start; ` +
          "without it they are not run again.",
      );
    }
  }
  const record = await store.openBackfill({ ...request, restart: options.restart });
  if (!record?.resumed) return { record, done: new Set() };
  const done = await completedUnits(store, processor.name, record.startedAt, units);
  options.logger.info(
    `Resuming the backfill of ${processor.name} begun ${new Date(record.startedAt).toISOString()}: ` +
      `${done.size} of ${units.length} completed since then are not run again ` +
      "(--rerun-completed runs them again).",
  );
  return { record, done };
}

/** Indexes (into `units`) of the units of `processor` completed at or after `since`. */
async function completedUnits(
  store: GuardedStore,
  processor: string,
  since: number,
  units: readonly PartitionUnit[],
): Promise<Set<number>> {
  const completed = new Set(
    (await store.completedSince(processor, since)).map((key) => unitId(key.partition, key.shard)),
  );
  const done = new Set<number>();
  units.forEach((unit, index) => {
    if (completed.has(unitId(unit.partition, unit.shard))) done.add(index);
  });
  return done;
}

/** The id of a backfill: a digest of the processor's name and version and of its partitions. */
function backfillId(
  processor: { readonly name: string; readonly version: number },
  units: readonly PartitionUnit[],
): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify([processor.name, processor.version]));
  for (const unit of units) hash.update(`\n${unitId(unit.partition, unit.shard)}`);
  return hash.digest("hex").slice(0, 32);
}

function unitId(partition: string, shard: string | number | undefined): string {
  return `${partition}\u0000${shard ?? ""}`;
}
