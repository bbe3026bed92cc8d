import type { StoredQuota } from "../core/store/quota-store.js";

/**
 * A `quotas` row as SQL returns it (shared by the SQL stores): PostgreSQL gives BIGINTs as
 * strings and `waiting` as parsed JSONB; SQLite gives numbers, 0/1 and JSON text.
 */
export interface QuotaRow {
  key: string;
  quota_limit: number | string;
  per_ms: number | string;
  burst: number | string;
  adaptive: boolean | number;
  rate: number | string;
  rate_changed_at: number | string;
  tat: number | string;
  paused_until: number | string;
  pauses: number | string;
  last_pause_at: number | string | null;
  taken: number | string;
  minute_start: number | string;
  minute_taken: number | string;
  prev_minute_taken: number | string;
  waiting: string | Record<string, number>;
  updated_at: number | string;
}

/** The columns of `quotas`, in the order {@link quotaValues} gives them. */
export const QUOTA_COLUMNS = [
  "key",
  "quota_limit",
  "per_ms",
  "burst",
  "adaptive",
  "rate",
  "rate_changed_at",
  "tat",
  "paused_until",
  "pauses",
  "last_pause_at",
  "taken",
  "minute_start",
  "minute_taken",
  "prev_minute_taken",
  "waiting",
  "updated_at",
] as const;

/** A row as the quota functions see it. */
export function toStoredQuota(row: QuotaRow): StoredQuota {
  return {
    key: row.key,
    limit: Number(row.quota_limit),
    perMs: Number(row.per_ms),
    burst: Number(row.burst),
    adaptive: Boolean(row.adaptive),
    rate: Number(row.rate),
    rateChangedAt: Number(row.rate_changed_at),
    tat: Number(row.tat),
    pausedUntil: Number(row.paused_until),
    pauses: Number(row.pauses),
    lastPauseAt: row.last_pause_at === null ? null : Number(row.last_pause_at),
    taken: Number(row.taken),
    minuteStart: Number(row.minute_start),
    minuteTaken: Number(row.minute_taken),
    prevMinuteTaken: Number(row.prev_minute_taken),
    waiting: typeof row.waiting === "string" ? JSON.parse(row.waiting) : row.waiting,
    updatedAt: Number(row.updated_at),
  };
}

/** A row's values in {@link QUOTA_COLUMNS} order, for SQLite's upsert. */
export function quotaValues(quota: StoredQuota): unknown[] {
  return [
    quota.key,
    quota.limit,
    quota.perMs,
    quota.burst,
    quota.adaptive ? 1 : 0,
    quota.rate,
    quota.rateChangedAt,
    quota.tat,
    quota.pausedUntil,
    quota.pauses,
    quota.lastPauseAt,
    quota.taken,
    quota.minuteStart,
    quota.minuteTaken,
    quota.prevMinuteTaken,
    JSON.stringify(quota.waiting),
    quota.updatedAt,
  ];
}
