import type {
  QuotaGiveBack,
  QuotaGrant,
  QuotaPause,
  QuotaSpec,
  QuotaTake,
  StoredQuota,
} from "./quota-store.js";

/**
 * The reference semantics of a quota key, as pure functions over its row: the memory and
 * SQLite stores call them inside one transaction; the PostgreSQL store runs the same
 * arithmetic in one SQL statement. The contract tests hold all three to them.
 *
 * The key is a GCRA schedule: `tat` is when the last reserved token has its turn; a lease of
 * `n` tokens starts at `max(tat, now)` and moves `tat` on by `n` intervals, so runners sharing
 * the key get consecutive turns whatever their number.
 */

/** How an adaptive key's rate moves: halved by a new pause, raised by a tenth after quiet. */
export const ADAPTIVE = Object.freeze({
  /** A 429 that begins a pause multiplies the rate by this. */
  decrease: 0.5,
  /** Each quiet period without a 429 adds this share of `limit`, up to `limit`. */
  increase: 0.1,
  /** The rate never drops below this share of `limit`. */
  floor: 0.05,
  /** A quiet period lasts at least this long, and at least one `per`. */
  minQuietMs: 10_000,
});

const MINUTE = 60_000;

/** The key's rate at `now`: the limit, or for an adaptive key what AIMD left it at. */
export function rateAt(
  row: StoredQuota | undefined,
  spec: QuotaSpec,
  now: number,
): { rate: number; changedAt: number } {
  if (!row) return { rate: spec.limit, changedAt: now };
  if (!spec.adaptive) return { rate: spec.limit, changedAt: row.rateChangedAt };
  // A limit lowered since (a redeploy) applies at once.
  const rate = Math.min(row.rate, spec.limit);
  const quietSince = Math.max(row.rateChangedAt, row.lastPauseAt ?? 0);
  if (rate < spec.limit && now - quietSince >= Math.max(ADAPTIVE.minQuietMs, spec.perMs)) {
    return { rate: Math.min(spec.limit, rate + spec.limit * ADAPTIVE.increase), changedAt: now };
  }
  return { rate, changedAt: row.rateChangedAt };
}

/** A key nobody has taken from yet. */
function freshRow(spec: QuotaSpec, now: number): StoredQuota {
  return {
    ...specOf(spec),
    rate: spec.limit,
    rateChangedAt: now,
    tat: now,
    pausedUntil: 0,
    pauses: 0,
    lastPauseAt: null,
    taken: 0,
    minuteStart: minuteOf(now),
    minuteTaken: 0,
    prevMinuteTaken: 0,
    waiting: {},
    updatedAt: now,
  };
}

/** Reserves a lease: the row after it, and the grant. */
export function takeTokens(
  row: StoredQuota | undefined,
  take: QuotaTake,
): { row: StoredQuota; grant: QuotaGrant } {
  const { now } = take;
  const before = row ?? freshRow(take, now);
  const { rate, changedAt } = rateAt(row, take, now);
  const intervalMs = take.perMs / rate;
  // After a pause the turns start evenly: no burst of saved-up tokens into a recovering API.
  const start = Math.max(before.tat, now, before.pausedUntil + take.credit * intervalMs);
  const end = start + take.tokens * intervalMs;
  const waits = start - take.credit * intervalMs > now;
  const waiting = withoutOwner(before.waiting, take.owner, now);
  if (waits) waiting[take.owner] = end;
  return {
    row: {
      ...before,
      ...specOf(take),
      rate,
      rateChangedAt: changedAt,
      tat: end,
      taken: before.taken + take.tokens,
      ...countInMinute(before, take.tokens, now),
      waiting,
      updatedAt: now,
    },
    grant: {
      tokens: take.tokens,
      start,
      intervalMs,
      credit: take.credit,
      end,
      storeNow: now,
      pausedUntil: before.pausedUntil,
      rate,
    },
  };
}

/** The row after a lease's unused tail is given back. */
export function giveBackTokens(row: StoredQuota, giveBack: QuotaGiveBack): StoredQuota {
  const waiting = withoutOwner(row.waiting, giveBack.owner, giveBack.now);
  // Only the schedule's own tail can move back: turns reserved after it stay where they are.
  if (!sameTime(row.tat, giveBack.end)) return { ...row, waiting };
  const sameMinute = row.minuteStart === minuteOf(giveBack.now);
  return {
    ...row,
    tat: giveBack.from,
    taken: Math.max(0, row.taken - giveBack.tokens),
    minuteTaken: sameMinute ? Math.max(0, row.minuteTaken - giveBack.tokens) : row.minuteTaken,
    waiting,
  };
}

/** The row after a 429: paused until `now + retryAfterMs`, an adaptive rate halved. */
export function pauseKey(row: StoredQuota | undefined, pause: QuotaPause): StoredQuota {
  const { now } = pause;
  const before = row ?? freshRow(pause, now);
  // 429s of requests sent before the pause began are the same episode, not a new one.
  const episode = now >= before.pausedUntil;
  const { rate, changedAt } = rateAt(row, pause, now);
  const lowered = pause.adaptive && episode;
  return {
    ...before,
    ...specOf(pause),
    rate: lowered ? Math.max(pause.limit * ADAPTIVE.floor, rate * ADAPTIVE.decrease) : rate,
    rateChangedAt: lowered ? now : changedAt,
    pausedUntil: Math.max(before.pausedUntil, now + pause.retryAfterMs),
    pauses: before.pauses + (episode ? 1 : 0),
    lastPauseAt: now,
    updatedAt: now,
  };
}

/** The minute `now` falls in, as its start. */
export function minuteOf(now: number): number {
  return Math.floor(now / MINUTE) * MINUTE;
}

/** The minute counters after `tokens` more at `now`. */
function countInMinute(
  row: StoredQuota,
  tokens: number,
  now: number,
): Pick<StoredQuota, "minuteStart" | "minuteTaken" | "prevMinuteTaken"> {
  const minute = minuteOf(now);
  if (row.minuteStart === minute) {
    return {
      minuteStart: minute,
      minuteTaken: row.minuteTaken + tokens,
      prevMinuteTaken: row.prevMinuteTaken,
    };
  }
  const prev = row.minuteStart === minute - MINUTE ? row.minuteTaken : 0;
  return { minuteStart: minute, minuteTaken: tokens, prevMinuteTaken: prev };
}

/**
 * Tokens taken over the minute before `now`, estimated from the two minute counters: all of
 * the current minute and the part of the previous one that the last 60 s still cover.
 */
export function tokensLastMinute(row: StoredQuota, now: number): number {
  const minute = minuteOf(now);
  const into = (now - minute) / MINUTE;
  if (row.minuteStart === minute) return row.minuteTaken + row.prevMinuteTaken * (1 - into);
  if (row.minuteStart === minute - MINUTE) return row.minuteTaken * (1 - into);
  return 0;
}

/** The owners still waiting at `now`, without `owner`. */
function withoutOwner(
  waiting: Readonly<Record<string, number>>,
  owner: string,
  now: number,
): Record<string, number> {
  const kept: Record<string, number> = {};
  for (const [who, until] of Object.entries(waiting)) {
    if (who !== owner && until > now) kept[who] = until;
  }
  return kept;
}

function specOf(spec: QuotaSpec): QuotaSpec {
  return {
    key: spec.key,
    limit: spec.limit,
    perMs: spec.perMs,
    burst: spec.burst,
    adaptive: spec.adaptive,
  };
}

/** Times compared after a round trip through a database's floating-point column. */
export function sameTime(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-6;
}
