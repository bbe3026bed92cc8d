import { createHash } from "node:crypto";
import type { BackfillOpen, BackfillRecord } from "./store/backfill-store.js";
import type { GuardedStore } from "./store/guarded-store.js";
import type { Logger } from "./types.js";

/** Where a backfill starts from: its record and the time its claims count completions from. */
export interface BackfillStart {
  /** Null when the store keeps no backfills. */
  readonly record: BackfillRecord | null;
  /** A unit completed at or after this (by the store's clock) is done for this backfill. */
  readonly since: number;
}

/**
 * Opens the backfill of `partitions`: the same processor, version and partitions name the same
 * backfill, so the same command in any process joins it. A finished backfill of several
 * partitions stays finished (`rerunCompleted` begins it anew); a finished one of a single
 * partition is begun anew, since running one partition again is what the same command asks.
 * An unfinished one not active for the processor's `expiryMs` begins anew, as its checkpoints
 * have expired. Each way is logged with what it means for the work.
 */
export async function openBackfill(
  store: GuardedStore,
  processor: { readonly name: string; readonly version: number; readonly expiryMs: number },
  partitions: readonly string[],
  options: { readonly now: number; readonly rerunCompleted: boolean; readonly logger: Logger },
): Promise<BackfillStart> {
  const { now, logger } = options;
  const request = {
    processor: processor.name,
    id: backfillId(processor, partitions),
    partitions,
    now,
    // Its checkpoints expire after expiryMs without a commit; so does the backfill.
    staleBefore: now - processor.expiryMs,
    repeatFinished: partitions.length === 1,
  };
  if (options.rerunCompleted) await sayWhatARerunRedoes(store, processor.name, request, logger);
  const record = await store.openBackfill({ ...request, restart: options.rerunCompleted });
  if (!record) return { record: null, since: now };
  const began = new Date(record.startedAt).toISOString();
  if (record.finishedAt !== null) return { record, since: record.startedAt };
  if (record.resumed) {
    logger.info(
      `Joining the backfill of ${processor.name} begun ${began}: partitions completed since ` +
        "then are not run again (--rerun-completed runs them again).",
    );
  } else if (record.replaced !== null && !options.rerunCompleted) {
    logger.warn(
      `The backfill of ${processor.name} begun ${new Date(record.replaced).toISOString()} saw ` +
        `no progress for expiryMs (${processor.expiryMs} ms): it begins anew. Its partitions ` +
        "completed before are run again and its checkpoints, expired, start over" +
        `${record.discarded > 0 ? ` (${record.discarded} of split partitions discarded)` : ""}; ` +
        "a larger expiryMs keeps a paused backfill longer.",
    );
  } else if (record.discarded > 0) {
    logger.warn(
      `Beginning the backfill of ${processor.name} anew: ${record.discarded} checkpoints of ` +
        "partitions split by an earlier one are discarded, so their partitions start over.",
    );
  }
  return { record, since: record.startedAt };
}

/** Logs how many partitions the backfill completed, which `--rerun-completed` runs again. */
async function sayWhatARerunRedoes(
  store: GuardedStore,
  processor: string,
  request: Omit<BackfillOpen, "restart">,
  logger: Logger,
): Promise<void> {
  const previous = await store.openBackfill({ ...request, restart: false, repeatFinished: false });
  if (!previous?.resumed) return;
  const listing = await store.listUnits(processor, request.partitions, previous.startedAt);
  const redone = new Set(listing?.completions.map((c) => c.partition)).size;
  logger.warn(
    `Running the backfill of ${processor} again (rerunCompleted, --rerun-completed): ` +
      `${redone} of ${request.partitions.length} partitions it completed since it began ` +
      `${new Date(previous.startedAt).toISOString()} run again from the start; without it ` +
      "they are not run again.",
  );
}

/** The id of a backfill: a digest of the processor's name and version and of its partitions. */
function backfillId(
  processor: { readonly name: string; readonly version: number },
  partitions: readonly string[],
): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify([processor.name, processor.version]));
  // The same digest as for the backfills recorded before shards joined the ids.
  for (const partition of partitions) hash.update(`\n${partition}\u0000`);
  return hash.digest("hex").slice(0, 32);
}
