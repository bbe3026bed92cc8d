import type { BackfillRecord } from "../core/store/backfill-store.js";

/** Which backfill a record is: its processor and id. */
type BackfillKey = Pick<BackfillRecord, "processor" | "id">;

/** The record of a finished backfill found again: it runs nothing; `runs` ran it. */
export function finishedBackfill(
  key: BackfillKey,
  startedAt: number,
  finishedAt: number,
  runs: number,
): BackfillRecord {
  return { ...key, startedAt, resumed: true, finishedAt, runs, discarded: 0, replaced: null };
}

/**
 * The record of a backfill opened unfinished: joined when it was `active` lately, else begun
 * anew at `startedAt`, replacing the unfinished one found (`prior`) if there was one.
 */
export function openedBackfill(
  key: BackfillKey,
  opened: {
    readonly active: boolean;
    readonly startedAt: number;
    readonly discarded: number;
    readonly prior: { readonly startedAt: number; readonly finishedAt: number | null } | undefined;
  },
): BackfillRecord {
  const { active, startedAt, discarded, prior } = opened;
  const replaced = !active && prior?.finishedAt === null ? prior.startedAt : null;
  return { ...key, startedAt, resumed: active, finishedAt: null, runs: null, discarded, replaced };
}
